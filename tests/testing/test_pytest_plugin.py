"""The pytest plugin users get with the package: its fixtures, run by pytest itself."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_the_fixtures_give_a_running_emulator_and_a_client(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import xenodia_jupyter as xj

        def test_generate(xenodia_client, xenodia_emulator):
            result = xenodia_client.generate("a red bicycle")
            assert result.image.size == (1024, 1024)
            assert xenodia_emulator.stats.billed_calls == 1

        def test_module_functions_use_it_too(xenodia_emulator):
            assert os.environ["XENODIA_BASE_URL"] == xenodia_emulator.base_url
            xj.generate("through the default client")
            assert xenodia_emulator.stats.billed_calls == 1  # reset between tests

        def test_faults_on_demand(xenodia_client, xenodia_emulator):
            xenodia_emulator.inject("generate", "status", status=402)
            try:
                xenodia_client.generate("no money")
            except xj.PaymentRequiredError:
                pass
            else:
                raise AssertionError("no 402")
        """
    )
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=3)
