import os

# The tests' own process compiles PTX and runs the cpu targets: it must not be the simulator.
# (Simulator tests run in subprocesses, see helpers.in_simulator.)
os.environ["NUMBA_ENABLE_CUDASIM"] = "0"
