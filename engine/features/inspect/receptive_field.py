"""Receptive-field arithmetic along one spatial axis, and the rectangle of one unit.

Conventions (as in Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional
Neural Networks", Distill 2019): for a feature map, ``size`` r is how many input pixels
one unit sees, ``stride`` j is how many input pixels apart neighbouring units are, and
``padding`` P is the effective padding: unit u (0-based) sees input pixels
``[u * j - P, u * j - P + r - 1]`` (inclusive; they may fall outside the image).

A layer with kernel k, stride s, left padding p and dilation d maps (r, j, P) to::

    r_out = r_in + (k - 1) * d * j_in
    j_out = j_in * s
    P_out = P_in + p * j_in

Where paths merge (a residual sum, an Inception concatenation) the merged map sees the
union of what its inputs see: with equal strides that is the interval from the
leftmost start to the rightmost end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AxisRF:
    """Receptive field along one axis in input pixels (see the module docstring)."""

    size: float
    stride: float
    padding: float

    def through(self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> "AxisRF":
        """The field after a sliding window with these parameters (left padding ``padding``)."""
        return AxisRF(
            size=self.size + (kernel - 1) * dilation * self.stride,
            stride=self.stride * stride,
            padding=self.padding + padding * self.stride,
        )

    def rescaled(self, factor: float) -> "AxisRF":
        """After resampling by ``factor`` (2 = upsample x2): the spacing of units shrinks."""
        return AxisRF(self.size, self.stride / factor, self.padding)

    def covering(self, length: int) -> "AxisRF":
        """After pooling all ``length`` positions into one (global pooling, flatten)."""
        return self.through(kernel=max(length, 1), stride=max(length, 1))

    def interval(self, unit: int) -> tuple[float, float]:
        """Input pixels [first, last] (inclusive) seen by unit ``unit``."""
        first = unit * self.stride - self.padding
        return first, first + self.size - 1


IDENTITY_AXIS = AxisRF(1, 1, 0)


def merge_axis(fields: list[AxisRF]) -> AxisRF:
    """The union of fields of maps that are combined element-wise or concatenated.

    Strides of merged maps of equal size are equal; if they are not (a malformed graph)
    the largest is kept and the mismatch logged.
    """
    if len(fields) == 1:
        return fields[0]
    stride = max(f.stride for f in fields)
    if any(abs(f.stride - stride) > 1e-9 for f in fields):
        log.debug("merging receptive fields with different strides %s", [f.stride for f in fields])
    start = min(-f.padding for f in fields)
    end = max(-f.padding + f.size - 1 for f in fields)
    return AxisRF(size=end - start + 1, stride=stride, padding=-start)


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a feature map: one AxisRF per axis (rows = y, columns = x)."""

    y: AxisRF = IDENTITY_AXIS
    x: AxisRF = IDENTITY_AXIS

    def through(self, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> "ReceptiveField":
        """Both axes through a window; tuples are (height, width) as in torch."""
        return ReceptiveField(
            self.y.through(kernel[0], stride[0], padding[0], dilation[0]),
            self.x.through(kernel[1], stride[1], padding[1], dilation[1]),
        )

    @property
    def size(self) -> int | list[int]:
        """An int when square, else [height, width]."""
        return _pair_or_int(self.y.size, self.x.size)

    @property
    def stride(self) -> int | float | list:
        return _pair_or_int(self.y.stride, self.x.stride)

    @property
    def padding(self) -> int | float | list:
        return _pair_or_int(self.y.padding, self.x.padding)

    def as_dict(self) -> dict:
        """{"size", "stride", "padding"} with ints (or [h, w] pairs when not square)."""
        return {"size": self.size, "stride": self.stride, "padding": self.padding}

    def unit_box(self, row: int, col: int, input_height: int | None = None, input_width: int | None = None) -> tuple[float, float, float, float]:
        """Box x1 y1 x2 y2 (input pixels; x2/y2 exclusive) seen by the unit at (row, col).

        Clipped to the input when its size is given; the unclipped box can extend into
        the zero padding around the image.
        """
        y0, y1 = self.y.interval(row)
        x0, x1 = self.x.interval(col)
        box = [x0, y0, x1 + 1, y1 + 1]
        if input_width is not None:
            box[0], box[2] = max(0.0, box[0]), min(float(input_width), box[2])
        if input_height is not None:
            box[1], box[3] = max(0.0, box[1]), min(float(input_height), box[3])
        return tuple(float(v) for v in box)  # type: ignore[return-value]


def merge(fields: list[ReceptiveField]) -> ReceptiveField:
    """Union of several maps' fields, axis by axis (see :func:`merge_axis`)."""
    return ReceptiveField(merge_axis([f.y for f in fields]), merge_axis([f.x for f in fields]))


def _clean(value: float) -> int | float:
    return int(round(value)) if abs(value - round(value)) < 1e-9 else round(value, 4)


def _pair_or_int(a: float, b: float):
    a, b = _clean(a), _clean(b)
    return a if a == b else [a, b]
