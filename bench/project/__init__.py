"""What `make bench` runs inside a rendered project's environment: the servers it loads, the
apps it compares with the template, the code it times in-process, the tests it times.

Everything here imports the rendered package (`my_service`) as any module of the project
would, and is type-checked against a render with every option on (`make bench-types`). The
orchestrating modules one level up never import it: they start these as processes
(`python -m bench.project.upstream_server`) or copy them into a project (`suites/`).
"""
