"""The models ``make bench`` measures, saved and exported once into a work folder: the six
backbones at the default config (untrained: timing needs no training) and the shipped ``mixed``
and ``slim`` readers."""
from __future__ import annotations

import time
from pathlib import Path

#: the shipped readers measured beside the backbones
SHIPPED = ("mixed", "slim")
#: every format timed: Keras itself, and what ``lpr export`` writes
FORMATS = ("keras", "savedmodel", "tflite", "tflite_int8", "onnx")


def model_names() -> list[str]:
    from lpr_lib.backbones import BACKBONES

    return [*BACKBONES, *SHIPPED]


def prepare(name: str, workdir: Path, formats=FORMATS, log=print) -> tuple[dict, dict]:
    """Save (a backbone) or find (a shipped model) ``name``'s ``.keras`` file, export it in
    every format of ``formats`` into ``workdir/name/export`` and check each export against it.
    Returns the model's facts (kind, backbone, width, parameters, MACs, and per format its
    size on disk, export seconds and parity, or why it is missing) and ``{format: path}`` of
    the files written (kept out of the results: they are this machine's temporary paths)."""
    import keras

    from lpr_lib.backbones import BACKBONES
    from lpr_lib.config import default_config
    from lpr_lib.export import disk_bytes, write_exports
    from lpr_lib.model import build_model, count_flops
    from lpr_lib.predict import load_model, resolve_model, run_config
    from lpr_lib.runtime import EXPORT_NAMES

    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    if name in BACKBONES:
        cfg = default_config().override([f"model.backbone={name}"])
        keras.utils.set_random_seed(cfg.seed)
        path = folder / "model.keras"
        build_model(cfg).save(path)
        cfg.to_yaml(folder / "config.yaml")
        kind = "backbone (untrained)"
    else:
        path, _ = resolve_model(name)
        kind = "shipped"
    model = load_model(path)
    cfg = run_config(model)
    info = {"kind": kind, "backbone": cfg.model.backbone if cfg else None,
            "width": cfg.model.width if cfg else None, "params": int(model.count_params()),
            "macs": int(count_flops(model)["macs"]),
            "image_size": list(model.input.shape[1:3]), "formats": {}}
    info["formats"]["keras"] = {"bytes": disk_bytes(path)}
    paths = {"keras": path}
    exports = [f for f in formats if f != "keras"]
    started = time.perf_counter()
    errors = {}
    checks = write_exports(model, folder / "export", exports, strict=False,
                           on_error=lambda fmt, err: errors.setdefault(fmt, err))
    for fmt, check in checks.items():
        row = {}
        if "error" in check:
            row["skipped"] = f"the export failed: {check['error']}"
        else:
            paths[fmt] = folder / "export" / EXPORT_NAMES[fmt]
            row.update(bytes=check.pop("bytes"), export_seconds=check.pop("export_seconds"),
                       parity=check)
        info["formats"][fmt] = row
    log(f"  {name}: {info['params']:,} parameters, {info['macs'] / 1e6:.1f} MMACs; exported "
        f"{', '.join(f for f in exports if f not in errors)} in "
        f"{time.perf_counter() - started:.0f} s"
        + (f"; failed: {', '.join(errors)}" if errors else ""))
    del model
    keras.backend.clear_session()
    return info, paths
