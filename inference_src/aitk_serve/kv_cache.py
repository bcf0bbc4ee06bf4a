"""A KV cache for a batch whose rows join and leave between decode steps.

Rows are left-padded to a common length; `valid` marks which columns of each row hold real tokens.
Each layer keeps spare room so a decode step writes one column in place instead of re-copying the
whole cache as transformers' DynamicLayer does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.cache_utils import Cache, DynamicLayer

_SPARE_COLUMNS = 128


class _RoomyLayer(DynamicLayer):
    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self._length = 0
            self._keys = self._values = None
        end = self._length + key_states.shape[-2]
        if self._keys is None or end > self._keys.shape[-2]:
            self._reserve(key_states, value_states, end)
        self._keys[:, :, self._length : end] = key_states
        self._values[:, :, self._length : end] = value_states
        self._length = end
        self.keys, self.values = self._keys[:, :, :end], self._values[:, :, :end]
        return self.keys, self.values

    def _reserve(self, key_states, value_states, end: int) -> None:
        batch, heads, _, _ = key_states.shape
        room = max(end + _SPARE_COLUMNS, 2 * end)
        keys = key_states.new_zeros(batch, heads, room, key_states.shape[-1])
        values = value_states.new_zeros(batch, heads, room, value_states.shape[-1])
        if self._length:
            keys[:, :, : self._length] = self._keys[:, :, : self._length]
            values[:, :, : self._length] = self._values[:, :, : self._length]
        self._keys, self._values = keys, values

    def replace(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Hold exactly these [batch, heads, length, dim] tensors (with fresh spare room)."""
        self._keys = self._values = None
        self._length = 0
        self.update(keys, values)


class BatchCache(Cache):
    def __init__(self, num_layers: int):
        super().__init__(layers=[_RoomyLayer() for _ in range(num_layers)])
        self.valid: torch.Tensor | None = None  # [batch, length] bool, set by the prefill

    @property
    def length(self) -> int:
        return 0 if self.valid is None else self.valid.shape[1]

    def decode_mask(self) -> torch.Tensor | None:
        """Extend `valid` by the column this step writes; its 4D mask, or None when nothing is padded."""
        self.valid = F.pad(self.valid, (0, 1), value=True)
        return None if bool(self.valid.all()) else self.valid[:, None, None, :]

    def keep_rows(self, rows: list[int]) -> None:
        index = torch.tensor(rows, device=self.valid.device)
        self.valid = self.valid[index]
        # Columns that are padding in every remaining row are dead weight.
        start = int(self.valid.any(0).int().argmax())
        self.valid = self.valid[:, start:]
        for layer in self.layers:
            layer.replace(layer.keys[index, :, start:], layer.values[index, :, start:])

    def append(self, other: BatchCache) -> None:
        """Add the rows of another (prefilled) cache, left-padding whichever side is shorter."""
        if self.valid is None:
            self.valid = other.valid
            for mine, theirs in zip(self.layers, other.layers, strict=True):
                mine.replace(theirs.keys, theirs.values)
            return
        length = max(self.length, other.length)
        pads = (length - self.length, length - other.length)
        self.valid = torch.cat([F.pad(self.valid, (pads[0], 0)), F.pad(other.valid, (pads[1], 0))])
        for mine, theirs in zip(self.layers, other.layers, strict=True):
            keys = torch.cat([F.pad(mine.keys, (0, 0, pads[0], 0)), F.pad(theirs.keys, (0, 0, pads[1], 0))])
            values = torch.cat([F.pad(mine.values, (0, 0, pads[0], 0)), F.pad(theirs.values, (0, 0, pads[1], 0))])
            mine.replace(keys, values)
