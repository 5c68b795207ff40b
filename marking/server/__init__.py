"""The public detection tool: ``aigc-mark serve``, a web page and an HTTP API that verify any
upload for every mark (issue 18).

Rule: the only place that knows HTTP. It takes uploads to private temporary files, hands them to
the pipeline's verification in a bounded pool of worker processes, and answers with system
provenance only; it never imports the command line, and the pipeline below never imports it.
Starlette, uvicorn and python-multipart come from the ``serve`` extra and are imported here
only.
"""
