"""``python -m numbabench.usertech ptx TECHNIQUE [DTYPE]``: the GPU compiler check in its own process."""
import sys

from .gpucheck import main

sys.exit(main())
