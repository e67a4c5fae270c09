"""Which packets and fields drove a verdict: gradient x input, read back through provenance.

For each explained flow, the gradient of the chosen class's logit with
respect to the token embeddings, times the embeddings, summed over the
hidden dimension, scores every token. The tokenizer's provenance says where
each token came from (packet, field, payload byte), so the strongest tokens
become sentences an analyst can check against the capture: "packet 3 (bwd):
TCP flags RST|ACK", "packet 1 (fwd) payload bytes 0-15: ' OR 1=1--". Payload
bytes are read as runs, so a string is one piece of evidence, not sixteen.
"""

from __future__ import annotations

import numpy as np
import torch

from trafficlm.model import TrafficModel, length_batches
from trafficlm.tokenizer import vocab as V
from trafficlm.tokenizer.decode import count_range, human_bucket, printable
from trafficlm.tokenizer.layout import SLOT_NAMES, Slot

HIDDEN_SLOTS = (Slot.CLS, Slot.SEP, Slot.PAD, Slot.PACKET, Slot.TRUNCATED)
PAYLOAD_RUN = 16  # bytes shown per payload piece
CONTEXT_COUNT_SLOTS = (Slot.CTX_SRC_FLOWS, Slot.CTX_PAIR_FLOWS, Slot.CTX_DST_PORTS,
                       Slot.CTX_PORT_HOSTS, Slot.CTX_DST_SOURCES)


def token_attributions(model: TrafficModel, ids: np.ndarray, targets: np.ndarray,
                       batch_size: int = 64) -> np.ndarray:
    """[n, length] gradient x input scores of each token for class ``targets[i]``."""
    classifier = model.classifier
    embeddings = classifier.get_input_embeddings()
    scores = np.zeros(ids.shape, np.float32)
    for rows in length_batches(ids, batch_size):
        width = max(1, int((ids[rows] != V.PAD).sum(axis=1).max()))
        batch = torch.from_numpy(np.ascontiguousarray(ids[rows, :width]).astype(np.int64))
        inputs = embeddings(batch).detach().requires_grad_(True)
        logits = classifier(inputs_embeds=inputs, attention_mask=(batch != V.PAD).long()).logits
        chosen = logits.gather(1, torch.from_numpy(targets[rows]).long()[:, None]).sum()
        (grad,) = torch.autograd.grad(chosen, inputs)
        scores[rows, :width] = (grad * inputs).sum(-1).detach().numpy()
    return scores


def evidence(model: TrafficModel, ids: np.ndarray, slots: np.ndarray, packets: np.ndarray,
             offsets: np.ndarray, directions: list[str], scores: np.ndarray,
             top: int = 3) -> list[str]:
    """The ``top`` strongest pieces of one flow's evidence, in words."""
    return [text for _, text in ranked_evidence(model, ids, slots, packets, offsets, directions,
                                                scores)[:top]]


def ranked_evidence(model: TrafficModel, ids: np.ndarray, slots: np.ndarray,
                    packets: np.ndarray, offsets: np.ndarray, directions: list[str],
                    scores: np.ndarray) -> list[tuple[Slot, str]]:
    """Every piece of one flow's evidence that speaks for the verdict, strongest first, with
    the kind of token it rests on (payload runs count as one piece)."""
    pieces: list[tuple[float, Slot, str]] = []
    visible = ~np.isin(slots, HIDDEN_SLOTS) & (ids != V.PAD)
    payload = visible & (slots == Slot.PAYLOAD)
    for i in np.flatnonzero(visible & ~payload):
        pieces.append((float(scores[i]), Slot(slots[i]), _field_piece(
            model, int(ids[i]), Slot(slots[i]), int(packets[i]), directions)))
    for packet in np.unique(packets[payload]):
        at = np.flatnonzero(payload & (packets == packet))
        for start in range(0, len(at), PAYLOAD_RUN):
            run = at[start : start + PAYLOAD_RUN]
            pieces.append((float(scores[run].sum()), Slot.PAYLOAD,
                           _payload_piece(model, ids[run], offsets[run], int(packet),
                                          directions)))
    pieces.sort(key=lambda p: -p[0])
    return [(slot, text) for weight, slot, text in pieces if weight > 0]


def _where(packet: int, directions: list[str]) -> str:
    side = f" ({directions[packet]})" if 0 <= packet < len(directions) else ""
    return f"packet {packet + 1}{side}"


def _field_piece(model: TrafficModel, token: int, slot: Slot, packet: int,
                 directions: list[str]) -> str:
    text = model.tokenizer.vocab.token(token)
    if slot in CONTEXT_COUNT_SLOTS:
        return f"{count_range(text.rsplit(':', 1)[1])} {SLOT_NAMES[slot]}"
    value = human_bucket(text.split(":", 1)[1] if ":" in text else text)
    if packet < 0:
        return f"{SLOT_NAMES[slot]} {value}"
    return f"{_where(packet, directions)}: {SLOT_NAMES[slot]} {value}"


def _payload_piece(model: TrafficModel, ids: np.ndarray, offsets: np.ndarray, packet: int,
                   directions: list[str]) -> str:
    base = model.tokenizer.vocab["byte"].base
    data = bytes(int(i) - base for i in ids)
    return (f"{_where(packet, directions)} payload bytes {int(offsets[0])}-{int(offsets[-1])}: "
            f"'{printable(data)}'")
