"""Video consultations: sessions and their record (`service`), signaling (`signaling`), media (`media`).

`video_namespace(services)` builds the `/video` socket.io namespace with this node's media hub; it is
listed in `realtime.server.NAMESPACES`. The hub is kept in `services.extras["video"]`; `close_video`
closes every peer connection and recorder (the last segments are recorded) and belongs in the node's
shutdown, before the services close.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from command_center.services import Services
    from realtime.video.signaling import VideoNamespace


def video_namespace(services: Services) -> VideoNamespace:
    """The /video namespace of one node, with its media hub (kept in services.extras["video"])."""
    from realtime.video.ice import use_host_addresses
    from realtime.video.media import VideoHub
    from realtime.video.routes import recording_root
    from realtime.video.signaling import VideoNamespace
    from realtime.video.subscriptions import subscriptions_factory

    settings = services.settings
    use_host_addresses(settings.webrtc_host_addresses)
    hub = VideoHub(
        recording_dir=recording_root(settings),
        segment_seconds=settings.video_segment_seconds,
        subscriptions_factory=subscriptions_factory(forwarding=settings.video_forwarding),
    )
    namespace = VideoNamespace(lambda: services, hub)
    services.extras["video"] = namespace
    return namespace


async def close_video(services: Services) -> None:
    """Closes the node's video rooms: peer connections, then recorders (their last segments recorded)."""
    namespace = services.extras.pop("video", None)
    if namespace is not None:
        await namespace.close()


def install(app: Any) -> Any:
    """Adds `close_video` to an app's shutdown (before its services close); returns the app."""
    starlette_app = getattr(app, "other_asgi_app", None) or app
    if getattr(starlette_app.state, "video_shutdown", False):
        return app
    starlette_app.state.video_shutdown = True
    inner = starlette_app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        async with inner(asgi_app) as value:
            try:
                yield value
            finally:
                services = starlette_app.state.services
                if services is not None:
                    await close_video(services)

    starlette_app.router.lifespan_context = lifespan
    return app
