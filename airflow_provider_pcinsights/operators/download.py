"""Download a report's completed export to any object storage path, atomically, with its lineage.

Every HTTP call goes through
:class:`~airflow_provider_pcinsights.hooks.insights.PartnerCenterInsightsHook`, imported
when the task runs, so a DAG file naming the operator loads neither requests nor msal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook


class InsightsOperator(BaseOperator):
    """What every operator of the provider shares: the connection, the hook's settings, the hook.

    :param conn_id: the ``pcinsights`` connection (templated).
    :param hook_params: keyword arguments for the hook, such as ``retries`` or ``backoff_factor``.
    """

    def __init__(
        self, *, conn_id: str = "pcinsights_default", hook_params: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.hook_params = dict(hook_params or {})

    def make_hook(self) -> PartnerCenterInsightsHook:
        """The hook, imported here so that DAG files naming an operator never load requests or msal."""
        if not isinstance(self.conn_id, str) or not self.conn_id.strip():
            raise ValueError(f"conn_id must be a non-empty string, got {self.conn_id!r}")
        from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

        return PartnerCenterInsightsHook(conn_id=self.conn_id, **self.hook_params)


class DownloadReportOperator(InsightsOperator):
    """Download a report's latest completed export (or a given execution's) to any object storage path.

    The file behind the execution's ``ReportAccessSecureLink`` is streamed to
    ``destination`` (anything Airflow's ``ObjectStoragePath`` takes: a local path,
    ``file://``, and ``s3://``, ``gs://``, ``abfs://``... with their providers
    installed), gunzipped and without a byte-order mark. It is fetched without the
    bearer token, with the connection's ``verify``, ``proxies`` and ``timeout``; a link
    that has expired is replaced once by reading the execution again. The file is
    written under a temporary name beside the destination and renamed into place, so
    the destination never holds half a file; on failure the partial file is removed.

    Returns (and pushes to XCom) ``{"destination", "bytes", "rows", "ExecutionId",
    "ReportId", "ReportGeneratedTime", "Format", "compressed"}``: the path written,
    its size, its data rows (after the header) and the execution. With
    ``outlets=[Asset(...)]``, Airflow records an Asset event on success, carrying the
    same facts as its ``extra``, and DAGs scheduled on that Asset run.

    :param report_id: the report (templated); one id.
    :param destination: where to write the file (templated): a path or an ``ObjectStoragePath``;
        ending with ``/``, a directory, in which the file is named ``<ReportId>_<ExecutionId>.<format>``.
    :param execution_id: the execution whose file to download (templated); default: the latest
        ``Completed`` one, such as ``ReportExecutionSensor`` waited for.
    :param conn_id: the ``pcinsights`` connection (templated).
    :param hook_params: keyword arguments for the hook, such as ``retries``.
    """

    template_fields: Sequence[str] = ("report_id", "destination", "execution_id", "conn_id")
    ui_color = "#f5ecd9"

    def __init__(
        self,
        *,
        report_id: str,
        destination: Any,
        execution_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.destination = destination
        self.execution_id = execution_id
        # The file execute() writes, for the lineage of the completed task (set once it is known).
        self._lineage_target: Any = None

    def execute(self, context: Context) -> dict[str, Any]:
        # The ids are checked by the hook, before it sends anything.
        report_id, execution_id = self.report_id, None if self.execution_id == "" else self.execution_id
        destination = self.destination
        if destination is None or (isinstance(destination, str) and not destination.strip()):
            raise ValueError(f"destination must be a path or an ObjectStoragePath, got {destination!r}")
        hook = self.make_hook()
        try:
            execution = hook.get_completed_execution(report_id, execution_id)
            target = self._target(execution)
            self._lineage_target = target
            self.log.info(
                "Downloading the file of execution %s of report %s (generated %s) to %s",
                execution.get("ExecutionId"),
                report_id,
                execution.get("ReportGeneratedTime"),
                target,
            )
            download = _write_atomically(target, lambda sink: hook.download_report_file(execution, sink))
        finally:
            hook.close()
        execution = download.execution
        result = {
            "destination": str(target),
            "bytes": download.bytes,
            "rows": download.rows,
            "ExecutionId": execution.get("ExecutionId"),
            "ReportId": report_id,
            "ReportGeneratedTime": execution.get("ReportGeneratedTime"),
            "Format": execution.get("Format"),
            "compressed": download.compressed,
        }
        self.log.info(
            "Wrote %s: %d bytes, %d data rows (the file came %s%s)",
            target,
            download.bytes,
            download.rows,
            "gzip-compressed" if download.compressed else "uncompressed",
            "; its link had expired and was replaced" if download.link_refreshed else "",
        )
        self._describe_asset_events(context, result)
        return result

    def _target(self, execution: dict[str, Any] | None = None) -> Any:
        """The destination as a path; with ``execution``, a directory's (ending with ``/``) file in it."""
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        destination = self.destination
        path = (
            destination if isinstance(destination, ObjectStoragePath) else ObjectStoragePath(str(destination))
        )
        if execution is not None and isinstance(destination, str) and destination.rstrip().endswith("/"):
            extension = str(execution.get("Format") or "csv").lower()
            path = path / f"{execution.get('ReportId')}_{execution.get('ExecutionId')}.{extension}"
        return path

    # -- lineage (the OpenLineage provider's operator methods; used only when it is installed) ------

    def get_openlineage_facets_on_start(self) -> Any:
        """The report as input, the destination as output, before anything is read.

        Reads the connection (for its tenant and program), sends nothing. A destination ending
        with ``/`` names a directory whose file name is known only once the execution is read:
        the start event names the directory, the complete event the file.
        """
        from airflow.providers.openlineage.extractors import OperatorLineage

        settings = self.make_hook().settings
        inputs = [_report_dataset(settings.tenant_id, settings.program, str(self.report_id))]
        outputs = []
        if self.destination is not None and str(self.destination).strip():
            outputs.append(_file_dataset(self._target()))
        return OperatorLineage(inputs=inputs, outputs=outputs)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The report and the file this task wrote (the directory's file named, as it was written)."""
        lineage = self.get_openlineage_facets_on_start()
        if self._lineage_target is not None:
            lineage.outputs = [_file_dataset(self._lineage_target)]
        return lineage

    def _describe_asset_events(self, context: Context, result: dict[str, Any]) -> None:
        """Put what was written into the ``extra`` of each Asset event this task emits."""
        events = (context or {}).get("outlet_events")
        if events is None:
            return
        extra = {k: result[k] for k in ("destination", "bytes", "rows", "ExecutionId", "ReportId")}
        for outlet in self.outlets or []:
            if not hasattr(outlet, "uri"):
                continue
            try:
                events[outlet].extra.update(extra)
            except Exception as exc:  # an outlet kind that takes no extra: the event still happens
                self.log.debug("No extra for outlet %s: %s", outlet, exc)


# OpenLineage's names for object stores (its naming spec): the scheme of the namespace, by fsspec protocol.
_OPENLINEAGE_SCHEMES = {"gcs": "gs", "s3a": "s3", "s3n": "s3"}


def _report_dataset(tenant_id: str, program: str, report_id: str) -> Any:
    """The report as an OpenLineage dataset: namespace ``pcinsights://<tenant>/<program>``, name its id.

    OpenLineage names a dataset by its data source (the namespace, ``scheme://authority``) and
    its unique name there. A report id is unique within a tenant's program (``mpn`` or ``cmp``),
    and the same report read by any connection of that tenant and program is the same dataset,
    so neither the connection id nor the API host belongs in the name.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return Dataset(namespace=f"pcinsights://{tenant_id}/{program}", name=report_id)


def _file_dataset(path: Any) -> Any:
    """A file as OpenLineage names it: ``file`` and its absolute path for a local file (as Airflow's
    ``file://`` Asset translates to); ``<scheme>://<bucket>`` and its key in an object store."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    protocol = str(getattr(path, "protocol", "") or "")
    key = str(path.key).strip("/")  # a directory (a destination ending with /) without its slash
    if protocol in ("", "file", "local"):
        return Dataset(namespace="file", name=f"/{key}")
    scheme = _OPENLINEAGE_SCHEMES.get(protocol, protocol)
    bucket = str(getattr(path, "bucket", "") or "")
    return Dataset(namespace=f"{scheme}://{bucket}" if bucket else scheme, name=key)


def _write_atomically(target: Any, write: Any) -> Any:
    """Write through ``write(sink)`` to a temporary name beside ``target``, then rename it into place."""
    import uuid

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        with partial.open("wb") as out:
            result = write(out.write)
        partial.rename(target)
    except BaseException:
        with contextlib.suppress(Exception):  # not there, or not removable: the original error matters
            partial.unlink()
        raise
    return result
