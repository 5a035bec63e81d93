import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Model tests use tiny tensors: one thread avoids OpenMP spin-waits when the machine is busy."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
