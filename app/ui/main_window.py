"""The main window: a thin composition of the sidebar, the panels, the jobs panel, menus.

It owns the two job queues (reads in parallel, imports one at a time), opens
the registry in the background, accepts dropped files anywhere, and keeps its
geometry, splitter, last panel and theme in a settings file in the data home.
Dropped model files open the import dialog; a dropped table (CSV, Parquet) is
offered as reference data of the version the Models panel shows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QSystemTrayIcon,
)

from app.config import Config
from app.logs import log
from app.progress import CancelToken, ProgressCallback
from app.ui.alert_watch import AlertWatch
from app.ui.deployments_panel import DeploymentsPanel
from app.ui.hosts_panel import HostsPanel
from app.ui.import_dialog import ImportDialog, ImportRequest
from app.ui.jobs import Job, JobQueue
from app.ui.jobs_panel import JobsPanel
from app.ui.models_panel import ModelsPanel
from app.ui.monitoring_panel import MonitoringPanel
from app.ui.reference_view import table_files
from app.ui.theme import THEMES, apply_theme, icon
from app.units import human_size

if TYPE_CHECKING:
    from app.deploy.service import DeployResult
    from app.monitor.live import PullResult
    from app.registry import BuildInfo, Registry, VersionInfo
    from app.ui.build_dialog import BuildDialog
    from app.ui.deploy_dialog import DeployDialog

SETTINGS_VERSION = 1
WATCH_FIRST_MS = 10_000  # the first background round for alerts, after the registry opens
PANELS = (
    ("Models", "models"),
    ("Hosts", "hosts"),
    ("Deployments", "deployments"),
    ("Monitoring", "monitoring"),
)


class MainWindow(QMainWindow):
    def __init__(self, config: Config | None = None) -> None:
        super().__init__()
        self.config = config or Config.from_environment()
        self.registry: Registry | None = None
        self.settings = QSettings(str(self.config.settings_file), QSettings.Format.IniFormat)
        self.reader = JobQueue(parent=self)
        self.imports = JobQueue(serial=True, parent=self)
        self.builds = JobQueue(serial=True, parent=self)  # one Docker build at a time
        self.network = JobQueue(parent=self)  # SSH: host checks, trust, shipping
        self.setWindowTitle("Modelbay")
        self.setWindowIcon(icon("modelbay"))
        self.setAcceptDrops(True)
        self.resize(1200, 760)

        self.models_panel = self._models_panel()
        self.sidebar = QListWidget(self)
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setMinimumWidth(140)
        self.sidebar.setMaximumWidth(240)
        self.sidebar.setAccessibleName("Sections")
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.models_panel)
        self._add_pages()
        self.sidebar.currentRowChanged.connect(self.pages.setCurrentIndex)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.pages)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([170, 1030])
        self.setCentralWidget(self.splitter)

        self.jobs_panel = JobsPanel(self)
        for queue in (self.imports, self.builds, self.network):
            self.jobs_panel.watch(queue)
        self.jobs_dock = QDockWidget("Jobs", self)
        self.jobs_dock.setObjectName("jobsDock")
        self.jobs_dock.setWidget(self.jobs_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.jobs_dock)
        self.resizeDocks([self.jobs_dock], [150], Qt.Orientation.Vertical)
        self.jobs_dock.hide()  # shown when the first job starts; View > Jobs shows it any time

        self.location = QLabel(self)
        self.counts = QLabel(self)
        self.statusBar().addWidget(self.location, 1)
        self.statusBar().addPermanentWidget(self.counts)
        self._build_menus()
        self.tray = self._tray_icon()
        self._restore_settings()
        self._open_registry()

    def _models_panel(self) -> ModelsPanel:
        panel = ModelsPanel(self.reader, self)
        panel.sig_status.connect(self._show_counts)
        panel.sig_error.connect(self.show_error)
        panel.sig_import_requested.connect(self.choose_files_to_import)
        panel.sig_reference_dropped.connect(lambda info, path: self.offer_reference([path], info))
        panel.detail.sig_build_requested.connect(self.open_build_dialog)
        panel.detail.sig_ship_requested.connect(self.choose_host_to_ship)
        panel.detail.sig_deploy_requested.connect(self.open_deploy_dialog)
        panel.detail.sig_status.connect(lambda text: self.statusBar().showMessage(text, 15000))
        return panel

    def _add_pages(self) -> None:
        self.hosts_panel = HostsPanel(self.reader, self.network, self)
        self.hosts_panel.sig_error.connect(self.show_error)
        self.hosts_panel.sig_status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.deployments_panel = DeploymentsPanel(
            self.reader,
            self.network,
            config=self.config,
            prompt=self.hosts_panel.prompt,
            parent=self,
        )
        self.deployments_panel.sig_error.connect(self.show_error)
        self.deployments_panel.sig_status.connect(
            lambda text: self.statusBar().showMessage(text, 15000)
        )
        self.monitoring_panel = MonitoringPanel(
            self.reader, self.network, prompt=self.hosts_panel.prompt, parent=self
        )
        self.monitoring_panel.sig_error.connect(self.show_error)
        self.monitoring_panel.sig_status.connect(
            lambda text: self.statusBar().showMessage(text, 15000)
        )
        self.monitoring_panel.sig_notify.connect(self.notify)
        self.monitoring_panel.sig_alerts.connect(self.deployments_panel.set_alerts)
        self.deployments_panel.sig_monitor_requested.connect(self.show_monitoring)
        # every other live service, pulled each minute, so its alerts reach the tray too
        self.alert_watch = AlertWatch(
            self.network, skip=lambda: self.monitoring_panel.address, parent=self
        )
        self.alert_watch.sig_result.connect(self._watched)
        pages = {
            "hosts": self.hosts_panel,
            "deployments": self.deployments_panel,
            "monitoring": self.monitoring_panel,
        }
        for label, key in PANELS:
            QListWidgetItem(icon(key), label, self.sidebar)
            if key in pages:
                self.pages.addWidget(pages[key])

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.import_action = self._action(
            file_menu,
            "&Import…",
            self.choose_files_to_import,
            QKeySequence.StandardKey.Open,
            "import",
        )
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit = bar.addMenu("&Edit")
        self._action(
            edit, "&Find Models", self.focus_search, QKeySequence.StandardKey.Find, "search"
        )
        self._action(
            edit,
            "&Copy Content Hash",
            self.models_panel.detail.copy_hash,
            QKeySequence("Ctrl+Shift+C"),
            "copy",
        )

        model = bar.addMenu("&Model")
        detail = self.models_panel.detail
        self._action(model, "Set &Alias…", detail.set_alias_dialog, QKeySequence("Ctrl+L"), "alias")
        self._action(model, "Add &Tag…", detail.add_tag_dialog, QKeySequence("Ctrl+T"), "tag")
        self._action(model, "Attach &Reference Data…", detail.choose_reference_file, None, "import")
        self._action(model, "Review and A&pprove…", detail.approve_current, None, "quarantine")
        self._action(
            model,
            "Ar&chive Version…",
            detail.archive_current,
            QKeySequence.StandardKey.Delete,
            "archive",
        )
        model.addSeparator()
        self._action(model, "&Build Image…", detail.request_build, QKeySequence("Ctrl+B"), "build")
        self._action(
            model, "&Deploy…", detail.request_deploy, QKeySequence("Ctrl+D"), "deployments"
        )
        model.addSeparator()
        self._action(
            model,
            "&Refresh",
            self.models_panel.refresh,
            QKeySequence.StandardKey.Refresh,
        )

        view = bar.addMenu("&View")
        view.addAction(self.jobs_dock.toggleViewAction())
        self._action(view, "&Monitoring", self.show_monitoring, None, "monitoring")
        self.watch_action = view.addAction("&Alerts for Every Live Service")
        self.watch_action.setCheckable(True)
        self.watch_action.setToolTip(
            "Pull every deployed service once a minute in the background, so a drift alert "
            "is shown even when its Monitoring page is not open"
        )
        self.watch_action.setChecked(bool(self.settings.value("monitoring/watch_all", True, bool)))
        self.watch_action.toggled.connect(self.set_alert_watch)
        theme_menu = view.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        for theme in THEMES:
            action = theme_menu.addAction(theme.capitalize())
            action.setCheckable(True)
            action.setData(theme)
            self.theme_group.addAction(action)
        self.theme_group.triggered.connect(lambda a: self.set_theme(str(a.data())))

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "Create &Demo Models", self.create_demo_models)
        self._action(help_menu, "Open &Log Folder", self.open_log_folder)
        help_menu.addSeparator()
        self._action(help_menu, "&About Modelbay", self.show_about)

    def _action(
        self,
        menu: QMenu,
        text: str,
        slot: Callable[[], object],
        shortcut: QKeySequence | QKeySequence.StandardKey | None = None,
        icon_name: str | None = None,
    ) -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    # ------------------------------------------------------------------ registry
    def _open_registry(self) -> None:
        self.location.setText(f"Opening the registry in {self.config.home} …")
        job = self.reader.submit(
            "opening the registry", _open_registry_in_background(self.config), listed=False
        )
        job.sig_finished.connect(self._registry_opened)
        job.sig_failed.connect(self._registry_failed)

    def _registry_opened(self, registry: Registry) -> None:
        self.registry = registry
        self.location.setText(f"Registry: {self._where()}")
        self.models_panel.set_registry(registry)
        self.hosts_panel.set_registry(registry)
        self.deployments_panel.set_registry(registry)
        self.monitoring_panel.set_registry(registry)
        self.alert_watch.set_registry(registry)
        self.set_alert_watch(self.watch_action.isChecked())

    def _registry_failed(self, message: str, hint: str) -> None:
        self.models_panel.loading.text.setText(f"{message}<br>{hint}")
        self.location.setText("The registry could not be opened.")
        self.show_error(message, hint)

    def _where(self) -> str:
        url = self.config.database_url
        if url.startswith("sqlite:///"):
            return str(self.config.home)
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)

    def _show_counts(self, text: str) -> None:
        self.counts.setText(text)

    # ------------------------------------------------------------------ import
    def focus_search(self) -> None:
        self.sidebar.setCurrentRow(0)
        self.models_panel.search.setFocus()
        self.models_panel.search.selectAll()

    def choose_files_to_import(self) -> None:
        dialog = QFileDialog(self, "Import models")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.filesSelected.connect(
            lambda files: self.open_import_dialog([Path(f) for f in files])
        )
        dialog.open()

    def open_import_dialog(self, paths: list[Path]) -> ImportDialog | None:
        if not paths:
            return None
        if self.registry is None:
            self.show_error("the registry is not open yet", "wait a moment and drop again")
            return None
        dialog = ImportDialog(paths, set(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per drop
        registry = self.registry

        def ask(names: list[str]) -> None:
            job = self.reader.submit(
                "checking model names",
                lambda _p, _c: registry.existing_models(names),
                listed=False,
            )
            job.sig_finished.connect(dialog.known_models)

        dialog.sig_names_wanted.connect(ask)
        dialog.ask_registry()
        dialog.accepted.connect(lambda: self.start_imports(dialog.requests))
        dialog.open()
        return dialog

    def start_imports(self, requests: list[ImportRequest]) -> list[Job]:
        registry = self.registry
        if registry is None:
            return []
        jobs = []
        for request in requests:

            def work(
                progress: ProgressCallback, cancel: CancelToken, request: ImportRequest = request
            ) -> VersionInfo:
                return registry.import_path(
                    request.path,
                    name=request.name,
                    tags=request.tags,
                    note=request.note,
                    progress=progress,
                    cancel=cancel,
                )

            job = self.imports.submit(f"Importing {request.path.name} as {request.name}", work)
            job.sig_finished.connect(self._imported)
            jobs.append(job)
        self.jobs_dock.show()
        return jobs

    def _imported(self, info: VersionInfo) -> None:
        self.sidebar.setCurrentRow(0)
        self.models_panel.search.clear()
        self.models_panel.refresh(select=info.name)
        self.statusBar().showMessage(
            f"Registered {info.ref} ({info.format}, {info.framework})", 8000
        )
        if info.status == "quarantined":
            findings = (info.safety or {}).get("findings") or []
            names = ", ".join(sorted({f.get("global", "") for f in findings}))
            self.show_error(
                f"{info.ref} is quarantined: loading it would run {names}",
                "it cannot be built or deployed until someone who trusts its source approves "
                "it (Model > Review and Approve)",
                title="Quarantined model",
            )

    # ------------------------------------------------------------------ builds
    def open_build_dialog(self, info: VersionInfo) -> BuildDialog | None:
        registry = self.registry
        if registry is None:
            return None
        from app.build.service import default_base_image
        from app.ui.build_dialog import BuildDialog

        dialog = BuildDialog(
            info,
            registry=registry,
            queue=self.builds,
            config=self.config,
            default_base_image=default_base_image(self.config),
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.sig_started.connect(lambda _job: self._build_started(dialog))
        dialog.sig_built.connect(self._built)
        dialog.show()
        return dialog

    def _build_started(self, dialog: BuildDialog) -> None:
        self.jobs_dock.show()
        if dialog.remember.isChecked():  # the CLI reads the same file (app.config.setting)
            self.settings.setValue("build/base_image", dialog.base_image.text().strip())
            self.settings.sync()

    def _built(self, build: BuildInfo) -> None:
        self.statusBar().showMessage(f"{build.ref}: image {build.tag} {build.status}", 8000)
        if self.models_panel.detail.current is not None:
            current = self.models_panel.detail.current
            if current.name == build.name:
                self.models_panel.detail.show_model(build.name, version=current.version)

    # ------------------------------------------------------------------ shipping
    def choose_host_to_ship(self, info: VersionInfo) -> QInputDialog | None:
        hosts = [h.name for h in self.hosts_panel.hosts]
        if not hosts:
            self.show_error("there is no host to ship to yet", "add one in Hosts (Add host…)")
            return None
        dialog = QInputDialog(self)
        dialog.setWindowTitle(f"Ship {info.ref}")
        dialog.setLabelText(f"Copy the image of {info.ref} to which host?")
        dialog.setComboBoxItems(hosts)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda host: self.start_ship(info, host))
        dialog.open()
        return dialog

    def start_ship(self, info: VersionInfo, host: str) -> Job | None:
        registry = self.registry
        if registry is None:
            return None
        from app.remote.ship import ship

        prompt = self.hosts_panel.prompt
        job = self.network.submit(
            f"Shipping {info.ref} to {host}",
            lambda progress, cancel: ship(
                registry, info.ref, host, prompt=prompt, progress=progress, cancel=cancel
            ),
        )
        job.sig_finished.connect(
            lambda result: self.statusBar().showMessage(
                f"{result.host} has {result.tag}: {human_size(result.bytes_sent)} sent, "
                f"{result.layers_sent} of {result.layers_total} layers, {result.seconds:.1f} s",
                15000,
            )
        )
        job.sig_failed.connect(self.show_error)
        self.jobs_dock.show()
        return job

    # ------------------------------------------------------------------ deploying
    def open_deploy_dialog(self, info: VersionInfo, host: str | None = None) -> DeployDialog | None:
        registry = self.registry
        if registry is None:
            return None
        from app.ui.deploy_dialog import DeployDialog

        dialog = DeployDialog(
            info,
            hosts=[h.name for h in self.hosts_panel.hosts],
            registry=registry,
            queue=self.network,
            reader=self.reader,
            config=self.config,
            prompt=self.hosts_panel.prompt,
            host=host,
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.sig_started.connect(self._deploy_started)
        dialog.show()
        return dialog

    def _deploy_started(self, job: Job) -> None:
        self.jobs_dock.show()
        self.deployments_panel.watch_action(job, report_errors=False)  # the dialog says it
        job.sig_finished.connect(self._deployed)

    def _deployed(self, result: DeployResult) -> None:
        d = result.deployment
        self.statusBar().showMessage(f"{d.address} serves {d.ref} on port {d.port}", 15000)
        current = self.models_panel.detail.current
        if current is not None and current.name == d.name:  # an alias may have moved
            self.models_panel.detail.show_model(d.name, version=current.version)

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and all(url.isLocalFile() for url in urls):
            event.acceptProposedAction()
            paths = [Path(url.toLocalFile()) for url in urls]
            shown = self.models_panel.detail.current
            if len(table_files(paths)) < len(paths):
                text = f"Drop to import {len(urls)} item(s)"
            elif shown is not None:
                text = f"Drop to attach reference data to {shown.ref}"
            else:
                text = "Select a model version first to attach reference data to it"
            self.statusBar().showMessage(text, 3000)
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        if len(table_files(paths)) == len(paths):
            self.offer_reference(paths)
        else:  # tables among model files are listed in the dialog as skipped, with why
            self.open_import_dialog(paths)

    def offer_reference(
        self, tables: list[Path], target: VersionInfo | None = None
    ) -> QMessageBox | None:
        """Ask whether to attach a dropped table to ``target`` (default: the version shown)."""
        detail = self.models_panel.detail
        target = target or detail.current
        if self.registry is None:
            self.show_error("the registry is not open yet", "wait a moment and drop again")
            return None
        if len(tables) != 1:
            return self.show_error(
                f"{len(tables)} tables were dropped, and a version has one reference table",
                "drop one table at a time onto the version it belongs to",
            )
        path = tables[0]
        if target is None:
            return self.show_error(
                f"a table of data ({path.name}) is not a model: it can be a version's "
                "reference data, and no model version is selected",
                "select a model in Models, then drop the table onto it again",
                title="Attach reference data",
            )
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Attach reference data",
            f"Attach {path.name} as the reference data of {target.ref}?",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        attach = box.addButton("Attach", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(attach)
        shown = detail.current
        replaces = detail.reference if shown is not None and shown.ref == target.ref else None
        box.setInformativeText(
            "Its columns are checked against the version's inputs and profiled (bins, "
            "categories); live inputs are compared with that profile."
            + (f" It replaces {replaces.ref}, which stays in the registry." if replaces else "")
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def decided(_result: int) -> None:
            if box.clickedButton() is attach:
                self.sidebar.setCurrentRow(0)
                detail.attach_reference(path, target.ref)

        box.finished.connect(decided)
        box.open()
        return box

    # ------------------------------------------------------------------ monitoring
    def show_monitoring(self, address: str | None = None) -> None:
        """The Monitoring panel, showing ``address`` (SERVICE@HOST) when given."""
        self.sidebar.setCurrentRow([key for _, key in PANELS].index("monitoring"))
        if address:
            self.monitoring_panel.show_service(address)

    def _tray_icon(self) -> QSystemTrayIcon | None:
        """An icon in the system tray for alerts, where the desktop has a tray."""
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = QSystemTrayIcon(icon("modelbay"), self)
        tray.setToolTip("Modelbay")
        menu = QMenu(self)
        menu.addAction("Show Modelbay", self._raise)
        menu.addAction("Monitoring", self._raise_monitoring)
        menu.addSeparator()
        menu.addAction("Quit", self.close)
        tray.setContextMenu(menu)
        tray.messageClicked.connect(self._raise_monitoring)
        tray.show()
        return tray

    def _raise(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def _raise_monitoring(self) -> None:
        self._raise()
        self.show_monitoring()

    def set_alert_watch(self, on: bool) -> None:
        """Pull every live service in the background (View > Alerts for Every Live Service)."""
        self.settings.setValue("monitoring/watch_all", on)
        if not on:
            self.alert_watch.stop()
        elif not self.alert_watch.running:
            self.alert_watch.start()
            QTimer.singleShot(WATCH_FIRST_MS, self.alert_watch.pull)  # soon after opening

    def _watched(self, result: PullResult) -> None:
        if result.alert_changed and result.address != self.monitoring_panel.address:
            self.monitoring_panel.alert_changed(result)

    def notify(self, title: str, text: str) -> None:
        """An alert began or ended: a desktop notification (tray), else the status bar (the
        Monitoring panel shows its banner either way)."""
        log.info("alert: %s %s", title, text)
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, 15_000)
        self.statusBar().showMessage(f"{title}: {text}" if text else title, 60_000)

    # ------------------------------------------------------------------ help
    def create_demo_models(self) -> None:
        registry = self.registry
        if registry is None:
            return
        from app.demo import create_demo

        job = self.imports.submit(
            "Creating demo models",
            lambda progress, cancel: create_demo(
                registry, self.config.home / "demo", progress=progress, cancel=cancel
            ),
        )
        job.sig_finished.connect(
            lambda infos: self.models_panel.refresh(select=infos[0].name if infos else None)
        )
        self.jobs_dock.show()

    def open_log_folder(self) -> None:
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.config.log_dir)))

    def show_about(self) -> None:
        from app import version

        QMessageBox.about(
            self,
            "About Modelbay",
            f"<h3>Modelbay {version()}</h3><p>A registry, builder and deployer "
            "for trained machine-learning models.</p>"
            f"<p>Data: {self.config.home}</p>",
        )

    def show_error(self, message: str, hint: str = "", *, title: str = "Modelbay") -> QMessageBox:
        """Say what failed and what to do, without blocking the window."""
        log.warning("shown to the user: %s (%s)", message, hint)
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            title,
            message[:1].upper() + message[1:],
            QMessageBox.StandardButton.Ok,
            self,
        )
        if hint:
            box.setInformativeText(hint[:1].upper() + hint[1:] + ".")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    # ------------------------------------------------------------------ settings
    def set_theme(self, theme: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        self.settings.setValue("theme", theme)
        for action in self.theme_group.actions():
            action.setChecked(action.data() == theme)

    def _restore_settings(self) -> None:
        s = self.settings
        if s.value("version", 0, int) != SETTINGS_VERSION:
            s.clear()  # settings from another layout: start from the defaults
            s.setValue("version", SETTINGS_VERSION)
        geometry = s.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = s.value("windowState")
        if state is not None:
            self.restoreState(state)
        for key, splitter in (
            ("splitter", self.splitter),
            ("modelsSplitter", self.models_panel.splitter),
        ):
            sizes = s.value(key)
            if sizes is not None:
                splitter.restoreState(sizes)
        panel = s.value("panel", 0, int)
        self.sidebar.setCurrentRow(panel if isinstance(panel, int) else 0)
        theme = str(s.value("theme", "system"))
        for action in self.theme_group.actions():
            action.setChecked(action.data() == theme)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("splitter", self.splitter.saveState())
        s.setValue("modelsSplitter", self.models_panel.splitter.saveState())
        s.setValue("panel", self.sidebar.currentRow())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.deployments_panel.shutdown()
        self.monitoring_panel.shutdown()
        self.alert_watch.stop()
        if self.tray is not None:
            self.tray.hide()
        self.builds.shutdown()
        self.network.shutdown()
        self.imports.shutdown()
        self.reader.shutdown()
        if self.registry is not None:
            self.registry.close()
            self.registry = None
        super().closeEvent(event)


def current_theme(settings: QSettings) -> str:
    theme = str(settings.value("theme", "system"))
    return theme if theme in THEMES else "system"


def _open_registry_in_background(
    config: Config,
) -> Callable[[ProgressCallback, CancelToken], Registry]:
    def work(_progress: ProgressCallback, _cancel: CancelToken) -> Registry:
        # SQLAlchemy and the format readers load here, off the GUI thread: importing them
        # there delayed the first paint by ~0.3 s and stalled the first import.
        import app.formats  # noqa: F401
        from app.registry import Registry

        return Registry.open(config)

    return work
