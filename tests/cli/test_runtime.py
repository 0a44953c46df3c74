"""One builder (registry.runtime) makes the secret, the database, the store and the token
service, for the web app and for every `registry ...` command alike."""

from click.testing import CliRunner

from registry import Settings, create_app
from registry import runtime as runtime_module
from registry.cli import main
from registry.cli.common import open_runtime, operator_context
from registry.db import DatabaseTimeouts
from registry.runtime import Runtime
from registry.services import users as user_service
from registry.state import state
from tests.helpers import TestRegistry


def count_secret_resolutions(monkeypatch) -> list:
    calls = []
    resolve = runtime_module.resolve_secret_key

    def counted(settings):
        calls.append(settings)
        return resolve(settings)

    monkeypatch.setattr(runtime_module, "resolve_secret_key", counted)
    return calls


def test_the_app_serves_the_runtime_the_builder_made(settings):
    app = create_app(settings)
    runtime = app.extensions["registry"]
    with app.app_context():
        assert isinstance(state(), Runtime) and state() is runtime
    assert app.config["SECRET_KEY"] == runtime.secret_key == settings.secret_key
    assert runtime.timeouts == DatabaseTimeouts.from_settings(settings)  # the CLI's engine has none
    runtime.close()


def test_tokens_of_the_command_line_and_of_the_app_are_interchangeable(run, settings):
    assert run("users", "create", "carol", "--password", "long enough").exit_code == 0
    with open_runtime(settings) as cli, operator_context(cli) as ctx:
        pair = cli.tokens.issue_tokens(ctx.session, user_service.get_user(ctx.session, "carol"))
    registry = TestRegistry(create_app(settings))
    assert registry.api("GET", "/api/profile", token=pair.access_token).status_code == 200
    with open_runtime(settings) as cli, cli.session_factory() as session:
        assert cli.tokens.authenticate(session, registry.token("carol")).name == "carol"
    registry.state.close()


def test_the_secret_is_resolved_once_per_app_and_per_command(run, settings, monkeypatch):
    calls = count_secret_resolutions(monkeypatch)
    registry = TestRegistry(create_app(settings))
    registry.create_user("root", admin=True)
    made = registry.api("POST", "/api/users/create", token=registry.token("root"),
                        body={"username": "bob", "email": "bob@example.org"})
    assert made.status_code == 200
    # The API signed the link with the runtime's secret, and the page checks it with the same.
    assert registry.client.get(made.get_json()["password_url"].split("localhost", 1)[1]).status_code == 200
    assert len(calls) == 1
    registry.state.close()

    assert run("users", "code", "bob").exit_code == 0
    assert len(calls) == 2  # one more for the command (its tokens and its store share it)


def test_database_commands_need_no_secret(run, settings, monkeypatch):
    calls = count_secret_resolutions(monkeypatch)
    result = run("db", "current", secret_key="")
    assert result.exit_code == 0 and result.output.endswith("up to date\n")
    assert calls == [] and not (settings.data_dir / "secret_key").exists()


def test_the_embedded_default_shares_its_generated_secret_between_the_cli_and_the_app(tmp_path):
    env = {"REGISTRY_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    assert runner.invoke(main, ["users", "create", "carol", "--password", "long enough"], env=env).exit_code == 0
    code = runner.invoke(main, ["users", "code", "carol"], env=env)
    assert code.exit_code == 0
    registry = TestRegistry(create_app(Settings(data_dir=tmp_path / "data")))
    exchanged = registry.client.post("/api/token", data={"refresh_token": code.output.strip()})
    assert exchanged.status_code == 200
    assert registry.api("GET", "/api/profile", token=exchanged.get_json()["access_token"]).status_code == 200
    assert registry.state.secret_key == (tmp_path / "data" / "secret_key").read_text().strip()
    registry.state.close()
