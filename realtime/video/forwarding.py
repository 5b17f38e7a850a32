"""Encoded-frame forwarding: a publisher's frames go to each subscriber's sender without decode or encode.

aiortc has no public API for this. The adapter touches these aiortc internals, per instance (no class or
module is patched, so other peer connections in the process are unaffected); `check_aiortc` verifies
them at start-up and tests/realtime/video/test_forwarding.py fails if any of them changes:

- receiver side: `RTCRtpReceiver._RTCRtpReceiver__decoder_queue`, the queue its jitter buffer puts
  `(codec, JitterFrame)` tuples into and its decoder thread (`decoder_worker`, started by `receive()`)
  reads from. A `_FrameTap` replaces it before `receive()`: it hands every complete encoded frame to a
  `ForwardedSource` and gives the decoder thread `None` at once, so that thread ends without ever
  creating a decoder. `RTCRtpReceiver._send_rtcp_pli` sends the keyframe requests to the publisher.
- `RTCRtpReceiver._RTCRtpReceiver__jitter_buffer` is replaced by a `FrameAssembler`, a `JitterBuffer`
  (using its `_origin`, `_packets`, `_capacity` and `remove`) that hands a video frame over at its RTP
  marker bit and an audio frame at once, instead of when the next frame's first packet arrives (and,
  for audio, four frames later): a decoder needs that slack, a forwarder does not.
- sender side: `RTCRtpSender._RTCRtpSender__encoder`, which `_next_encoded_frame` creates only when it is
  unset and whose `pack()` it calls for anything that is not an `av.Frame`. A `PassthroughPacker` is put
  there (by wrapping the sender's `send`, once the codec is negotiated); it packetizes forwarded frames
  with aiortc's own payloaders and creates a real encoder only if decoded frames ever arrive.
  `RTCRtpSender._send_keyframe` (what a subscriber's PLI/FIR calls) is shadowed per sender to pass the
  request on to the publisher.

Supported aiortc: `SUPPORTED_AIORTC` (pinned in pyproject.toml). What happens to the frames between tap
and sender (keyframes, fallback decoding, loss) is `realtime.video.fanout`, which uses no aiortc internal.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from fractions import Fraction
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import av
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpreceiver import RTCRtpReceiver, decoder_worker
from aiortc.rtcrtpsender import RTCRtpSender

from realtime.video.fanout import EncodedFrame, ForwardedSource, ForwardedTrack

if TYPE_CHECKING:
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from aiortc.rtcrtptransceiver import RTCRtpTransceiver


SUPPORTED_AIORTC = ((1, 16), (1, 17))  # [from, to): the versions whose internals were checked
PASSTHROUGH_CODECS = frozenset({"vp8", "h264", "opus"})


class UnsupportedAiortc(RuntimeError):
    """The installed aiortc lacks an internal the forwarding adapter relies on."""


def check_aiortc() -> None:
    """Raises `UnsupportedAiortc` naming the first internal that is missing or changed."""
    installed = tuple(int(p) for p in version("aiortc").split(".")[:2])
    low, high = SUPPORTED_AIORTC
    if not low <= installed < high:
        raise UnsupportedAiortc(
            f"aiortc {version('aiortc')} is outside the supported range "
            f"{'.'.join(map(str, low))} to before {'.'.join(map(str, high))}"
        )
    expectations = [
        (RTCRtpReceiver.__init__, "self.__decoder_queue: queue.Queue = queue.Queue()"),
        (RTCRtpReceiver.receive, "self.__decoder_queue,"),
        (RTCRtpReceiver._handle_rtp_packet, "self.__decoder_queue.put((codec, encoded_frame))"),
        (RTCRtpReceiver._send_rtcp_pli, "media_ssrc"),
        (decoder_worker, "task = input_q.get()"),
        (decoder_worker, "if task is None:"),
        (RTCRtpSender._next_encoded_frame, "if self.__encoder is None:"),
        (RTCRtpSender._next_encoded_frame, "payloads, timestamp = self.__encoder.pack(data)"),
        (RTCRtpSender._handle_rtcp_packet, "self._send_keyframe()"),
        (RTCRtpSender.send, "self._run_rtp(parameters.codecs[0])"),
        (Vp8Encoder.__init__, "self.codec: Optional[VideoCodecContext] = None"),
        (RTCRtpReceiver.__init__, "self.__jitter_buffer = JitterBuffer(capacity=512, is_video=True)"),
        (RTCRtpReceiver._handle_rtp_packet, "self.__jitter_buffer.add(packet)"),
        (JitterBuffer.add, "return pli_flag, self._remove_frame(packet.sequence_number)"),
        (JitterBuffer._remove_frame, "packet = self._packets[pos]"),
        (JitterBuffer._remove_frame, "pos = (self._origin + count) % self._capacity"),
        (JitterBuffer.remove, "self._origin = uint16_add(self._origin, 1)"),
    ]
    for function, text in expectations:
        if text not in inspect.getsource(function):
            raise UnsupportedAiortc(f"aiortc changed: {function.__qualname__} no longer has `{text}`")


class PassthroughPacker(Encoder):
    """A sender's encoder slot: packetizes forwarded frames; encodes only decoded ones (fallback)."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self.codec = codec
        self.name = codec.mimeType.split("/")[1].lower()
        self.encoder: Encoder | None = None  # created on the first decoded frame only
        self._packer: Any = {"vp8": Vp8Encoder, "h264": H264Encoder}.get(self.name, lambda: None)()
        self._target_bitrate: int | None = None

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        if self.encoder is None:
            self.encoder = get_encoder(self.codec)
            if self._target_bitrate is not None and hasattr(self.encoder, "target_bitrate"):
                self.encoder.target_bitrate = self._target_bitrate
        return self.encoder.encode(frame, force_keyframe)

    def pack(self, packet: Any) -> tuple[list[bytes], int]:
        if not isinstance(packet, EncodedFrame):
            raise TypeError(f"cannot pack {type(packet).__name__}")
        if self._packer is None:  # Opus: one frame, one RTP payload
            return [packet.data], packet.timestamp
        av_packet = av.Packet(packet.data)
        av_packet.pts, av_packet.time_base = packet.timestamp, Fraction(1, packet.clock_rate)
        return self._packer.pack(av_packet)

    @property
    def target_bitrate(self) -> int:
        if self.encoder is not None and hasattr(self.encoder, "target_bitrate"):
            return self.encoder.target_bitrate
        return self._target_bitrate or 0

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        # REMB from the subscriber: only an encoder can act on it; forwarded frames keep the publisher's rate.
        self._target_bitrate = bitrate
        if self.encoder is not None and hasattr(self.encoder, "target_bitrate"):
            self.encoder.target_bitrate = bitrate


class FrameAssembler(JitterBuffer):
    """aiortc's jitter buffer, handing a frame over as soon as it is complete (see the module docstring)."""

    def __init__(self, kind: str) -> None:
        if kind == "video":
            super().__init__(capacity=512, is_video=True)
        else:
            super().__init__(capacity=16)
        self.single_packet_frames = kind != "video"

    def add(self, packet: Any) -> tuple[bool, JitterFrame | None]:
        pli_flag, frame = super().add(packet)
        if frame is None:
            frame = self._complete_frame_at_origin()
        return pli_flag, frame

    def _complete_frame_at_origin(self) -> JitterFrame | None:
        if self._origin is None:
            return None
        packets: list[Any] = []
        for count in range(self._capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None or (packets and packet.timestamp != packets[0].timestamp):
                return None  # a gap (NACK may fill it), or a frame that never saw its marker
            packets.append(packet)
            if packet.marker or self.single_packet_frames:
                self.remove(count + 1)
                return JitterFrame(data=b"".join(p._data for p in packets), timestamp=packets[0].timestamp)
        return None


class _FrameTap:
    """Stands in for an `RTCRtpReceiver`'s decoder queue (see the module docstring)."""

    def __init__(self, source: ForwardedSource) -> None:
        self.source = source

    def get(self) -> None:
        """The decoder thread's first and only read: stop at once, before any decoder exists."""

    def put(self, item: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if item is None:
            self.source.end()
        else:
            self.source.deliver(*item)


def tap_receiver(transceiver: RTCRtpTransceiver) -> ForwardedSource:
    """Takes a not yet started receiver's encoded frames for forwarding; its decoder thread never decodes."""
    receiver = transceiver.receiver

    def send_pli() -> bool:
        sources = receiver.getSynchronizationSources()
        if not sources:
            return False
        ssrc = max(sources, key=lambda s: s.timestamp).source
        asyncio.ensure_future(receiver._send_rtcp_pli(ssrc))
        return True

    source = ForwardedSource(transceiver.kind, receiver=receiver, send_pli=send_pli)
    receiver._RTCRtpReceiver__decoder_queue = _FrameTap(source)  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__jitter_buffer = FrameAssembler(transceiver.kind)  # type: ignore[attr-defined]
    return source


def bind_sender(track: ForwardedTrack, sender: RTCRtpSender) -> None:
    """Fits a subscriber's sender for `track`: a packer as encoder, keyframe requests go to the publisher."""
    original_send = sender.send
    original_keyframe = sender._send_keyframe

    async def send(parameters: Any) -> None:
        if track.packer is None:
            codec = parameters.codecs[0]
            track.packer = PassthroughPacker(codec)
            sender._RTCRtpSender__encoder = track.packer  # type: ignore[attr-defined]
            name = track.packer.name
            track.accepts = frozenset({name}) if name in PASSTHROUGH_CODECS else frozenset()
            track.ready = True
            track.source.start(track)  # the new subscriber's first picture
        await original_send(parameters)

    def send_keyframe() -> None:
        original_keyframe()  # the fallback encoder's own keyframe, if it is encoding
        track.waiting_for_keyframe = track.kind == "video"
        track.source.request_keyframe()

    sender.send = send  # type: ignore[method-assign]
    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]


async def last_loss_report(sender: RTCRtpSender) -> tuple[Any, float] | None:
    """(when, fraction lost 0..1) of the subscriber's latest receiver report on this sender's stream."""
    with contextlib.suppress(Exception):
        report = await sender.getStats()
        for stats in report.values():
            if stats.type == "remote-inbound-rtp" and stats.fractionLost is not None:
                return stats.timestamp, stats.fractionLost / 256  # RTCP carries it in 1/256ths
    return None
