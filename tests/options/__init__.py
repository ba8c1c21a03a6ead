"""One module per option, holding its fast tests and its slow tests (`pytest.mark.slow`) together.

The fast tests read the shared `renders` fixture (tests/conftest.py): the full product of
python_version x license x include_example_route, with every option's values spread across it
so that every pair of values of any two options meets once (test_combinations.py).
"""
