"""What the routers of the account view take as dependencies (`Depends`): the store and the portal's
settings of the application serving the request. `create_app` puts them in place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from meterd.store import Store

if TYPE_CHECKING:
    from meterd.config import PortalSection


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def portal_of(request: Request) -> PortalSection:
    portal: PortalSection = request.app.state.portal
    return portal


StoreDep = Annotated[Store, Depends(store_of)]
PortalDep = Annotated["PortalSection", Depends(portal_of)]
