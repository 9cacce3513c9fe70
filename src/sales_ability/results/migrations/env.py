"""Alembic environment of the results database: run with the connection ``results.store.engine`` passes in
(``config.attributes["connection"]``), or with ``sqlalchemy.url`` from the command line (``alembic -x``)."""

from alembic import context
from sqlalchemy import create_engine

from sales_ability.results.store import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        with create_engine(config.get_main_option("sqlalchemy.url")).begin() as own:
            context.configure(connection=own, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


run()
