"""The provider's plugin: a starting scheduler (not a task runner) creates the holds' pool and Variables."""

from __future__ import annotations

from airflow_provider_pcinsights import holds
from airflow_provider_pcinsights.plugin import listener


def test_a_starting_scheduler_creates_the_pool_of_one_slot_and_the_hold_variables():
    """The provider's listener, as Airflow calls it when a job (scheduler, triggerer, dag-processor)
    starts."""
    from airflow.models.pool import Pool
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Pool).filter(Pool.pool == holds.POOL).delete()
        session.query(Variable).filter(Variable.key == holds.SHARD_KEYS[0]).delete()
    listener.on_starting(type("TaskRunnerMarker", (), {})())  # not a job: no database there
    assert Pool.get_pool(holds.POOL) is None

    listener.on_starting(type("SchedulerJob", (type("Job", (), {}),), {})())

    assert Pool.get_pool(holds.POOL).slots == 1
    assert Variable.get(holds.SHARD_KEYS[0], deserialize_json=True) == {}
    assert holds.ensure_store() == []  # a second component finds everything there
