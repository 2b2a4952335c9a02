"""What Airflow's database says about Assets (Datasets on Airflow 2.11): events, and runs queued by them.

``dag.test()`` records an Asset event when a task with outlets succeeds; on Airflow
2.11 only for a Dataset the database already knows, and either line queues a run
of a DAG scheduled on it only when that DAG is known and not paused, as the
scheduler does.
"""

from __future__ import annotations

from typing import Any

try:  # Airflow 3
    from airflow.models.asset import AssetDagRunQueue as Queue
    from airflow.models.asset import AssetEvent as Event
    from airflow.models.asset import AssetModel as Model

    AIRFLOW_2 = False
except ImportError:  # Airflow 2.11
    from airflow.models.dataset import DatasetDagRunQueue as Queue
    from airflow.models.dataset import DatasetEvent as Event
    from airflow.models.dataset import DatasetModel as Model

    AIRFLOW_2 = True

from airflow.models.dag import DagModel
from airflow.utils.session import create_session


def register(*dags: Any) -> None:
    """Airflow 2.11's dag.test() writes no DAG or Dataset to the database: do it, as its parser would."""
    if AIRFLOW_2:
        from airflow.models.dag import DAG

        DAG.bulk_write_to_db(dags)


def switch_on(dag_id: str) -> None:
    """Unpause a DAG, as a user does in the UI, and forget the runs its Assets queued before."""
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == dag_id).update(
            {DagModel.is_paused: False}, synchronize_session=False
        )
        session.query(Queue).filter(Queue.target_dag_id == dag_id).delete(synchronize_session=False)


def events(uri: str, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The ``extra`` of each event of the Asset at ``uri`` that this DAG run emitted."""
    model_id = Event.asset_id if not AIRFLOW_2 else Event.dataset_id
    with create_session() as session:
        rows = (
            session.query(Event)
            .join(Model, Model.id == model_id)
            .filter(Model.uri == uri, Event.source_dag_id == dag_id, Event.source_run_id == run_id)
            .all()
        )
        return [dict(row.extra or {}) for row in rows]


def queued(dag_id: str) -> int:
    """Runs of ``dag_id`` its Assets have queued and the scheduler has not started yet."""
    with create_session() as session:
        return session.query(Queue).filter(Queue.target_dag_id == dag_id).count()
