"""`forecast export` and `forecast serve`: parse, one library call (`forecast.serving`), print."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecast.cli.common import check_writable, say

Model = Annotated[Path, typer.Option(help="Model file written by `forecast fit`, or the folder it is in.")]


def export(model: Model,
           out_dir: Annotated[Path, typer.Option("--out", help="Folder for the graph (model.pt or model.onnx) and preprocessing.json.")],
           format: Annotated[str, typer.Option(help="torchscript (model.pt, for torch.jit.load) or onnx (model.onnx, for ONNX Runtime; pip install 'forecast[onnx]').")] = "torchscript",
           force: Annotated[bool, typer.Option(help="Overwrite an export already in --out.")] = False):
    """Export the network for serving, checked to forecast what the model file does, with its preprocessing as JSON."""
    from forecast.serving import export as run_export
    from forecast.trained import TrainedModel

    trained = TrainedModel.load(model)
    check_writable(out_dir)
    written = run_export(trained, out_dir, format, force)
    say(f"exported {format}: {written['model']} and {written['preprocessing']}; the graph's largest difference "
        f"from the model file on the check windows: {written['largest_gap']:.2g}")


def serve(model: Model,
          host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).")] = 8000):
    """Answer forecasts over HTTP: GET /health, POST /predict with a JSON history (Ctrl-C stops)."""
    from forecast.serving import make_server
    from forecast.trained import TrainedModel

    trained = TrainedModel.load(model)
    try:
        server = make_server(trained, host, port)
    except OSError as e:
        from forecast.errors import ForecastError

        raise ForecastError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
    say(f"serving {model} ({len(trained.members)} series, horizon {trained.data.horizon}) on "
        f"http://{bound_host}:{bound_port}: GET /health, POST /predict", )
    import signal

    def stop(signum, frame):  # Ctrl-C or a service manager's SIGTERM, even where the shell ignored SIGINT
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    finally:
        server.server_close()
