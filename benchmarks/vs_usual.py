"""2. Against what people write instead: a DataLoader over a TensorDataset plus live curves
redrawn with matplotlib after every epoch (livelossplot's way: a new figure, every metric
drawn again, rendered to PNG), against our engine (Runner with its probes, the run store and
the live record, the pump streaming into every Bokeh figure) on the same data and model.

The figure is the usual way's time per epoch divided by ours.
"""

from __future__ import annotations

import io
import time

from benchmarks._common import Config, Figure, median, wait_until

ITEM = "2 vs the usual way"
DATASETS = ("moons", "digits")


def usual_epoch_seconds(dataset: str, epochs: int, device: str) -> float:
    """DataLoader(TensorDataset) training with livelossplot-style matplotlib curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from playground.config import HParams
    from playground.data import load_dataset
    from playground.models import build_model

    hp = HParams(dataset=dataset)
    data = load_dataset(hp, device)
    model = build_model(hp, data.input_shape, data.n_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=hp.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=hp.batch_size,
                        shuffle=True, drop_last=True)
    logs: dict[str, list[float]] = {"loss": [], "val_loss": [], "accuracy": [], "val_accuracy": []}
    warm = plt.figure()  # matplotlib's first drawing loads its fonts: not part of an epoch
    warm.savefig(io.BytesIO(), format="png")
    plt.close(warm)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        total, correct, seen = 0.0, 0, 0
        for x, y in loader:
            output = model(x)
            loss = loss_fn(output, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            correct += (output.argmax(1) == y).sum().item()
            seen += len(y)
        model.eval()
        with torch.no_grad():
            output = model(data.x_val)
            logs["val_loss"].append(loss_fn(output, data.y_val).item())
            logs["val_accuracy"].append((output.argmax(1) == data.y_val).float().mean().item())
        logs["loss"].append(total / seen)
        logs["accuracy"].append(correct / seen)
        # livelossplot: a fresh figure each epoch, every metric redrawn, shown as a PNG
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(logs[metric], label="training")
            ax.plot(logs[f"val_{metric}"], label="validation")
            ax.set_title(metric)
            ax.set_xlabel("epoch")
            ax.legend(loc="center left")
            ax.grid(True)
        fig.tight_layout()
        fig.savefig(io.BytesIO(), format="png")
        plt.close(fig)
    return (time.perf_counter() - start) / epochs


def engine_epoch_seconds(dataset: str, epochs: int, device: str) -> tuple[float, int]:
    """Our Runner with the app's probes, streaming into the Bokeh figures through the pump;
    seconds per epoch of training (the trainer's own clock) and the pump's batches."""
    from playground.config import HParams
    from playground.engine.probes import default_probes
    from playground.engine.runner import Runner
    from playground.plots import Plots, Pump
    from playground.plots.widget import FigureGrid

    runner = Runner(HParams(dataset=dataset, epochs=epochs), device=device,
                    callbacks=default_probes())
    plots = Plots()
    view = FigureGrid(plots.figures())  # patches are serialised as in the app
    pump = Pump(runner.record.reader().fetch, plots.push)
    pump.start()
    try:
        runner.start()
        status = runner.wait(600)
        wait_until(lambda: not runner.active, 60, "run ended")
    finally:
        pump.stop(30)  # let a round in progress finish, so its batch is counted
    if status != "finished":
        raise RuntimeError(f"the engine run ended {status}: {runner.error}")
    del view  # closing it as well makes its __del__ fail (jupyter_bokeh closes twice)
    return runner.trainer.seconds / runner.trainer.epoch, pump.batches


def run(config: Config) -> list[Figure]:
    epochs, repeats = config.pick((3, 1), (20, 3))
    figures = []
    for dataset in DATASETS:
        usual, ours, batches = [], [], 0
        for _ in range(repeats):  # interleaved, so a busier machine hits both alike
            usual.append(usual_epoch_seconds(dataset, epochs, config.device))
            seconds, batches = engine_epoch_seconds(dataset, epochs, config.device)
            ours.append(seconds)
        ratio = median(usual) / median(ours)
        figures.append(Figure(
            ITEM, f"{dataset}: DataLoader + matplotlib / our engine + Bokeh, s per epoch",
            ratio, target=">= 2", ok=ratio >= 2,
            raw={"usual_ms_per_epoch": 1000 * median(usual),
                 "ours_ms_per_epoch": 1000 * median(ours), "epochs": epochs,
                 "repeats": repeats, "pump_batches": batches}))
    return figures
