"""Request dependencies: the database session and the settings."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.config import Settings


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
            await run_in_threadpool(session.close)
        else:
            session.close()


def get_app_settings(request: Request) -> Settings:
    """Return the settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
