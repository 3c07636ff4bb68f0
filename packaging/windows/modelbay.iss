; Inno Setup script: Modelbay-<version>-setup.exe from the PyInstaller folder.
; NOT RUN on the project's Debian machines (no Windows, no Inno Setup there): it is built by
; .github/workflows/installers.yml on a hosted windows-latest runner:
;
;   pyinstaller --noconfirm --distpath build\pyinstaller\dist packaging\modelbay.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\modelbay.iss
;
; AppVersion comes from pyproject.toml (the workflow reads it); never edit it here.

#ifndef AppVersion
  #error Pass the version from pyproject.toml: iscc /DAppVersion=X.Y.Z modelbay.iss
#endif

[Setup]
AppId={{5E0C7C1B-6C2A-4F0E-9D8B-2A6B1D3C9E41}
AppName=Modelbay
AppVersion={#AppVersion}
AppPublisher=Modelbay engineers
DefaultDirName={autopf}\Modelbay
DefaultGroupName=Modelbay
DisableProgramGroupPage=yes
OutputDir=..\..\dist
OutputBaseFilename=Modelbay-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
WizardStyle=modern
UninstallDisplayIcon={app}\modelbay-gui.exe
; adds {app} to PATH so `modelbay` works in a terminal
ChangesEnvironment=yes

[Files]
Source: "..\..\build\pyinstaller\dist\modelbay\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Modelbay"; Filename: "{app}\modelbay-gui.exe"
Name: "{autodesktop}\Modelbay"; Filename: "{app}\modelbay-gui.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add modelbay to PATH (for the command line)"; Flags: unchecked

[Registry]
Root: HKA; Subkey: "{code:EnvKey}"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\modelbay-gui.exe"; Description: "{cm:LaunchProgram,Modelbay}"; Flags: nowait postinstall skipifsilent

[Code]
function EnvKey(Param: String): String;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

function NeedsAddPath(Dir: String): Boolean;
var
  Paths: String;
  Root: Integer;
begin
  if IsAdminInstallMode then Root := HKEY_LOCAL_MACHINE else Root := HKEY_CURRENT_USER;
  if not RegQueryStringValue(Root, EnvKey(''), 'Path', Paths) then
    Paths := '';
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;
