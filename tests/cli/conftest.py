import pytest
from click.testing import CliRunner

from registry.cli import main
from tests.support.live_server import settings_env


@pytest.fixture
def run(settings):
    """Invoke `registry ...` with the test's settings as REGISTRY_* variables."""
    runner = CliRunner()

    def invoke(*args, input=None, settings_override=None, **overrides):
        chosen = settings_override or settings.__class__(**{**settings.__dict__, **overrides})
        return runner.invoke(main, list(args), env=settings_env(chosen), input=input, catch_exceptions=False)

    return invoke
