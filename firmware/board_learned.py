"""Plastic networks on an FPGA board (or the simulated one), over its UART (issue 13).

A board whose bitstream holds a chip of learning cores (``spikemesh build --board B --chip
CHIP.yaml`` / ``spikemesh board-sim --board B --chip CHIP.yaml`` with
``core.learning_profiles`` in CHIP.yaml) runs a plastic network as every other chip does:
the same host-link words, carried by the UART bridge. :func:`run_plastic_board` is
firmware/board_runner.py ``run_image_board`` (the board check, the run in frames of whole
ticks, READ_STATE of every neuron) with the plastic load and read-back of
firmware/learned_batch.py in place of the plain ones: the route tables, every core's writes
and learning tables; after the state, LEARN_FLUSH and READ_LEARNED of every plastic synapse
word and kept trace, decoded into golden's ``weights``, ``weight_labels``, ``pre_trace``,
``post_trace``.
"""

from __future__ import annotations

from spikemesh.errors import SpikemeshError
from spikemesh.hostlink import Rsp

from .learned import decode_learned, learned_read_commands, learned_words
from .learned_batch import check_learning_chip, load_commands, pack


def run_plastic_board(net, image, inputs, ticks: int, *, port: str, **board):
    """Run the plastic ``net``, compiled to ``image`` for the board's learning chip, on the
    board at ``port``; ``board``: ``run_image_board``'s ``baud``, ``board``, ``timeout``,
    ``retries``. Returns its Result with the learned weights and traces in ``extra``.

    Raises
    ------
    SpikemeshError
        The image's chip has no learning cores, or too few learning profiles (named), before
        the port is opened; BoardError / BoardMismatch as ``run_image_board``.
    """
    from .board_runner import BoardError, run_image_board

    chip = image.chip
    if not chip.core.learning:
        raise SpikemeshError(
            "a plastic network runs on a board whose chip has learning cores; this one has "
            "none (core.learning_profiles = 0): build or simulate the board with --chip "
            "CHIP.yaml whose core sets learning_profiles, and pass the same --chip here"
        )
    check_learning_chip(image, chip)
    load = load_commands(image, chip)
    read_cmds, reads = learned_read_commands(net, image, chip)
    wanted = len(reads.what)

    def read_learned(link):
        rows = link.exchange(
            pack(chip, read_cmds),
            until=lambda r: sum(op == Rsp.LEARNED for op, _, _ in r) >= wanted,
            timeout=60.0,
        )
        try:
            return decode_learned(net, image, chip, reads, learned_words(rows))
        except SpikemeshError as e:
            raise BoardError(f"the board's LEARNED answers do not decode: {e}") from None

    return run_image_board(image, inputs, ticks, port=port, load=load, after=read_learned, **board)
