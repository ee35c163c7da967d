"""Request dependencies: the database session and the settings."""

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.config import Settings

logger = logging.getLogger(__name__)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Yield a session for one request; the route that owns the unit of work commits.

    Async, so that every request does not pay two trips to the thread pool (FastAPI runs a
    sync generator's both halves there): opening a session does no I/O, and neither does
    closing one that committed. Closing one left in a transaction rolls back, which is I/O:
    that goes to the thread pool.
    """
    session = Session(request.app.state.engine)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(close_after_answer, session)
        else:
            session.close()


def close_after_answer(session: Session) -> None:
    """Close ``session``, whose request has had its answer, rolling back what it left open.

    If the database went away meanwhile, the rollback fails on a connection the pool has
    already discarded: there is nothing left to undo. Raising here would reach the server after
    the response was sent, and it would drop the client's keep-alive connection.
    """
    try:
        session.close()
    except DBAPIError as err:
        if not err.connection_invalidated:
            raise
        logger.warning("database connection lost while closing a session: %s", err.orig)


async def get_app_settings(request: Request) -> Settings:
    """Return the settings the app was created with.

    Async, as every dependency that does no I/O: FastAPI runs a plain function in the thread
    pool, a trip for every request that reads the settings.
    """
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
