"""What the tasks of ``create_connectors`` do, kept out of the DAG file so that parsing it stays cheap and
each task's logic is testable on its own: ``prepare``, ``publish_changes``, ``report``, and the XCom
plumbing between them (``names``: every task id and XCom key the DAG uses)."""
