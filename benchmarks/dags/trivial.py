"""The least a DAG can be: one task that does nothing. The baseline of parse cost (3) and of a run (2a)."""

from airflow.sdk import dag, task


@dag(dag_id="trivial", schedule=None)
def trivial():
    @task
    def noop():
        return None

    noop()


trivial()
