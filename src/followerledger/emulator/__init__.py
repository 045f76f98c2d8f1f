"""The platform emulator: every registered platform's endpoints on 127.0.0.1.

It answers in each platform's official shapes (see ../shared/contracts), with deterministic
follower trajectories and switchable faults. It powers the demo, the tests and the benchmarks.
"""

from followerledger.emulator.faults import Fault
from followerledger.emulator.memory import EmulatorState
from followerledger.emulator.server import EmulatorServer, emulator_environment
from followerledger.emulator.world import World

__all__ = ["EmulatorServer", "EmulatorState", "Fault", "World", "emulator_environment"]
