import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("RLNOISE_NO_PROGRESS", "1")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield
