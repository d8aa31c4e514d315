"""Writes book/03_data.ipynb (the chapter's source, reviewable as text), or strips it.

    python tools/make_data_notebook.py            # write the notebook (no outputs)
    LPR_QUICK=0 jupyter nbconvert --to notebook --execute --inplace book/03_data.ipynb
    python tools/make_data_notebook.py --strip    # clear outputs of cells tagged "real-images"

Cells that show real photographs are tagged ``real-images`` (and ``remove-output``): their
outputs are never committed, since notebook outputs that embed the photographs are copies.
"""
import sys
from pathlib import Path

from notebook_cells import code, md, notebook, write

PATH = Path(__file__).resolve().parent.parent / "book" / "03_data.ipynb"
REAL = ["real-images", "remove-output"]


cells = [
    md("# Data: formats, facts and the input pipeline\n\n"
       "A plate reader is only as good as the plates it learns from. This chapter loads plates in\n"
       "the formats the field uses, looks hard at the real crops we have (they are few, noisy and\n"
       "imbalanced), splits them without leaking, and builds the `tf.data` pipeline that feeds\n"
       "training: decoding, whitening, augmentation. It ends by measuring whether that pipeline\n"
       "can keep up with a training step.\n\n"
       "Everything here lives in `lpr_lib.data`; the cells only call it."),
    code('import os\nos.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")\n'
         "from lpr_lib.book import setup, save_fig\nQUICK = setup()\n\n"
         "import json, tempfile\nfrom pathlib import Path\nimport numpy as np, pandas as pd, matplotlib.pyplot as plt\n"
         "from lpr_lib import data\nfrom lpr_lib.data import viz\n"
         "from lpr_lib.repro import SHARED_REAL, RESULTS_DIR\n"
         "from lpr_lib.synth import PlateGenerator, SynthConfig, generate"),
    md("## Five formats, one list of samples\n\n"
       "Plate datasets come in a handful of shapes:\n\n"
       "| format | what it looks like | reader |\n|---|---|---|\n"
       "| the seed's label file | `img/0001.jpg 0 41 63 51 34 38 36 -1`: class indices, $-1$ where a "
       "position is absent | `labels.txt` or any text file |\n"
       "| `labels.tsv` | `file  plate  source`, tab-separated (our real crops) | a folder with "
       "`labels.tsv` |\n"
       "| plate-named crops | `皖AY766D.jpg`, `苏E1500Q_3.jpg` (EasyPR and friends) | any other "
       "folder of images |\n"
       "| CCPD | the whole parking-lot photo; the plate's corners and characters are in the file "
       "name | a folder of CCPD names |\n"
       "| TFRecord | `tf.train.Example`s with the encoded image and the 8 labels | `.tfrecord` |\n\n"
       "`load_samples` recognises each of them and returns one list of `Sample`s (a path, the\n"
       "text, the eight labels). Let us render a few synthetic plates to a folder, which gives\n"
       "us a label file in the seed's format:"),
    code("tmp = Path(tempfile.mkdtemp())\n"
         "generate(12, tmp / 'synth', seed=3, progress=False)\n"
         "print((tmp / 'synth' / 'labels.txt').read_text().splitlines()[0])\n"
         "samples = data.load_samples(tmp / 'synth')\n"
         "print(data.detect_format(tmp / 'synth'), len(samples))\n"
         "s = samples[0]\n"
         "print(s.text, s.labels.tolist(), s.format, Path(s.where).name)"),
    md("The same plates, written as a TFRecord file and read back, and as a folder of crops\n"
       "named by their plate text, give the same labels:"),
    code("data.write_tfrecord(samples, tmp / 'synth.tfrecord')\n"
         "(tmp / 'named').mkdir()\n"
         "for i, s in enumerate(samples):\n"
         "    (tmp / 'named' / f'{s.text}_{i}.jpg').write_bytes(s.path.read_bytes())\n"
         "for src in [tmp / 'synth', tmp / 'synth.tfrecord', tmp / 'named']:\n"
         "    loaded = data.load_samples(src)\n"
         "    print(f'{data.detect_format(src):<10}', sorted(s.text for s in loaded)[:4], '...')"),
    md("## CCPD: the label is the file name\n\n"
       "The Chinese City Parking Dataset (CCPD) stores full photographs. The file name\n"
       "`025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg`\n"
       "reads: area ratio, tilt, bounding box, the **four corners clockwise from bottom-right**,\n"
       "the **character indices**, brightness and blur. The first index is into CCPD's province\n"
       "list, the second into its letters, the rest into its letters-and-digits list. Each of\n"
       "those lists ends with `O`, CCPD's mark for *no character* (plates never use the letter O);\n"
       "we flag such names rather than guess."),
    code("name = '025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg'\n"
         "info = data.parse_ccpd_name(name)\n"
         "{k: info[k] for k in ('text', 'box', 'tilt', 'brightness', 'blur')} | "
         "{'corners': info['corners'].tolist()}"),
    md("A perspective transform maps the four corners onto an upright $48\\times144$ rectangle\n"
       "(`cv2.getPerspectiveTransform` and `warpPerspective`). We check it on a synthetic\n"
       "photograph: a rendered plate pasted at known corners, warped back out."),
    code("plate = PlateGenerator(SynthConfig(), seed=5).render_clean('皖AY766D', 'blue')\n"
         "corners = np.float32([[330, 232], [112, 250], [100, 180], [318, 150]])\n"
         "scene = viz.scene_with_plate(plate, corners)\n"
         "crop = data.warp_plate(scene, corners)\n"
         "fig = viz.warp_figure([(scene, corners)], [crop], ['warped back'])\n"
         "print('mean abs difference to the rendered plate:',\n"
         "      np.abs(crop.astype(int) - plate.astype(int)).mean().round(1), 'of 255')\n"
         "save_fig(fig, '03_warp_synthetic'); plt.close(fig)"),
    md("```{figure} figures/03_warp_synthetic.png\n:name: fig-03-warp-synthetic\n:width: 100%\n\nA check of the CCPD warp on a synthetic photograph. Top: a rendered plate pasted into a scene at four known corners (outlined; the dot marks the first corner, bottom-right, where CCPD's list starts). Bottom: the crop that the perspective transform cuts back out of the scene.\n```"),
    md('With the 32 real CCPD scenes beside the project (`../shared/real_plates/ccpd_scenes`),\nthe next cell runs the same warp on real photographs and saves the figure next to the\nothers; the book does not show it, because the photographs are not published with it.'),
    code("from PIL import Image\n"
         "if SHARED_REAL.is_dir():\n"
         "    scenes = data.load_samples(SHARED_REAL / 'ccpd_scenes')\n"
         "    pick = scenes[:4]\n"
         "    shown = [(np.asarray(Image.open(s.path).convert('RGB')), s.corners) for s in pick]\n"
         "    fig = viz.warp_figure(shown, [data.read_image(s) for s in pick], [s.text for s in pick])\n"
         "    save_fig(fig, '03_ccpd_real_warp'); plt.close(fig)", REAL),
    code("if SHARED_REAL.is_dir():\n"
         "    crops = np.stack([data.read_image(s) for s in scenes]).reshape(32, -1, 3)\n"
         "    r, g, b = crops.mean(1).T\n"
         "    print(f'{len(scenes)} scenes parsed; warped crops with blue > red: {(b > r).sum()} of 32')"),
    md("## The real crops: what they are, and what is wrong with them\n\n"
       "`../shared/real_plates` holds 1531 training crops (902 from EasyPR-derived sets, 629 from\n"
       "CCPD) and 1000 test crops (CCPD-style, nearly all 皖). They are never copied into this\n"
       "repository; the book uses them when they are there. The checker, `lpr check DATA`, looks\n"
       "at every image and label before any training starts:"),
    code("if SHARED_REAL.is_dir():\n"
         "    report = data.check_dataset([SHARED_REAL / 'train', SHARED_REAL / 'test'])\n"
         "    print(report.counts(), '| usable samples:', len(report.samples))\n"
         "    for p in report.problems[:4]:\n"
         "        print(' ', p.kind, '-', p.message.replace(str(SHARED_REAL), '...'))"),
    md("What the checker finds and what it cannot:\n\n"
       "* **Duplicates.** A dozen training images occur twice (once three times) under different\n"
       "  names: harmless for the loss, but they inflate the count and would leak if a split put\n"
       "  the copies on both sides.\n"
       "* **Label noise** it cannot see: a few EasyPR-derived crops carry the wrong plate (the\n"
       "  data's README gives 苏EE91W3, which shows 苏K73397). The text is a valid plate, the\n"
       "  image is fine; only a model, or a person, notices. This is the seed's *abnormal data*\n"
       "  problem, and the reason later chapters look at losses that resist outliers (GHM).\n"
       "* **Test leakage.** No plate text occurs in both `train/` and `test/` (three were removed\n"
       "  from `train/`); run `lpr check train test` on your own data to see the same check.\n"
       "* **What is missing.** Every real plate has seven characters: no green new-energy plates,\n"
       "  no two-row plates. Those come from the generator only."),
    code("if SHARED_REAL.is_dir():\n"
         "    train = data.load_samples(SHARED_REAL / 'train')\n"
         "    test = data.load_samples(SHARED_REAL / 'test')\n"
         "    for name, s in [('train', train), ('test', test)]:\n"
         "        info = data.summary(s)\n"
         "        print(f\"{name}: {info['plates']} plates, {info['distinct_plates']} distinct, \"\n"
         "              f\"lengths {info['lengths']}, provinces {info['provinces_seen']}/31\")"),
    md("## Class imbalance\n\n"
       "`class_statistics` counts every character at every position. The province head is the\n"
       "extreme case: two provinces hold most training plates, and nine of 31 never occur."),
    code("if SHARED_REAL.is_dir():\n"
         "    fig = data.plot_class_statistics(train, title='real training crops')\n"
         "    save_fig(fig, '03_class_statistics_train'); plt.close(fig)\n"
         "    print(data.province_counts(train).head(8).to_dict())"),
    md("```{figure} figures/03_class_statistics_train.png\n"
       ":name: fig-03-class-statistics-train\n"
       ":width: 100%\n"
       "\n"
       "Class statistics of the real training crops: plates per province at the first position "
       "(top, log scale; grey: provinces that never occur) and the share of each letter, digit "
       "and special character at each position (bottom).\n"
       "```"),
    md("Two more things {numref}`fig-03-class-statistics-train` shows. The second character (the city letter) is dominated by A,\n"
       "the provincial capital. And the digit **4** is rare at every position: it sounds like\n"
       "*death* in Chinese and is avoided when plates are chosen. The test set is more extreme\n"
       "still: 956 of its 1000 plates are from 皖."),
    code("if SHARED_REAL.is_dir():\n"
         "    st = data.class_statistics(train)\n"
         "    digits = st[(st.group == 'digit') & (st.position >= 2)]\n"
         "    print(digits.groupby('char')['count'].sum().to_dict())\n"
         "    print('test provinces:', data.province_counts(test).head(5).to_dict())"),
    md("A classifier that always answers 皖 for the first character is right on 96% of the test\n"
       "plates. That is why the book reports per-position accuracy *and* plate accuracy at a\n"
       "confidence threshold, and why the synthetic generator draws provinces by their nationwide\n"
       "share of vehicles (chapter 2): far flatter than the traffic of any one city."),
    md("## Splitting by plate text\n\n"
       "Several crops of one plate look nearly the same. Split the files at random and the\n"
       "validation set holds plates the model has already seen, so validation accuracy\n"
       "flatters. `split_by_plate` keeps all crops of a plate text on one side:"),
    code("if SHARED_REAL.is_dir():\n"
         "    tr, va = data.split_by_plate(train, val_fraction=0.1)\n"
         "    print(f'by plate: {len(tr)} train, {len(va)} val, plates on both sides:',\n"
         "          len({s.text for s in tr} & {s.text for s in va}))\n"
         "    print('by file: ', viz.file_split_leak(train, 0.1))"),
    md("## Whitening\n\n"
       "`preprocess` is the one function that turns a decoded image into the model's input; training,\n"
       "evaluation and the exported model all call it. It resizes to $48\\times144$ and then, with\n"
       "`whiten=True`, standardises each image to zero mean and unit variance:\n\n"
       "$$x' = \\frac{x - \\mu}{\\max(\\sigma, 1/\\sqrt{N})}$$\n\n"
       "over the $N$ pixel values of that one image. A dark crop and a bright crop of the same\n"
       "plate become nearly the same input; the network no longer spends capacity on exposure."),
    code("gen = PlateGenerator(SynthConfig(), seed=11)\n"
         "img = gen.sample_at(0).image.astype(np.float32)\n"
         "variants = [img, img * 0.35, np.clip(img * 0.5 + 120, 0, 255)]\n"
         "variants = [v.astype(np.uint8) for v in variants]\n"
         "fig = viz.whitening_figure(variants, ['as rendered', 'dark', 'washed out'])\n"
         "save_fig(fig, '03_whitening'); plt.close(fig)"),
    md("```{figure} figures/03_whitening.png\n"
       ":name: fig-03-whitening\n"
       ":width: 100%\n"
       "\n"
       "A synthetic plate as rendered, darkened and washed out (top row) and the same three "
       "after whitening, rescaled for display (bottom row); the right column holds their pixel "
       "histograms before (values in [0, 1]) and after whitening (mean 0, standard deviation 1).\n"
       "```"),
    md("## Augmentation\n\n"
       "`augment` is the seed's augmentation (Gaussian and salt-and-pepper noise; brightness,\n"
       "contrast and saturation in a random order; clipping) plus what real crops need: a small\n"
       "affine jitter (rotation, shear, scale, shift) and crop jitter (each side of the crop moves\n"
       "in or out a little, as a detector's box would). The geometric parts compose into one\n"
       "affine transform, so the image is resampled once. All strengths live in one config class:"),
    code("data.AugmentConfig()"),
    md("`augment` works on whole batches (each image draws its own strengths; the order of the\n"
       "colour operations is drawn once per batch, which matters little since, clipping aside,\n"
       "they commute). It is written in NumPy and OpenCV (`lpr_lib.data.augmentation`), so that the\n"
       "`tf.data` pipeline (through `tf.numpy_function`) and the TensorFlow-free input path of\n"
       "the other Keras backends run the same code. Every random draw is a function of the seed\n"
       "and of a key drawn for each batch from a seeded stream: a run is reproducible whatever\n"
       "the number of parallel workers, and each epoch sees new augmentations."),
    code("fig = viz.augmentation_grid(gen.sample_at(1).image, n=8)\n"
         "save_fig(fig, '03_augmentation'); plt.close(fig)"),
    md("```{figure} figures/03_augmentation.png\n"
       ":name: fig-03-augmentation\n"
       ":width: 100%\n"
       "\n"
       "A synthetic plate (original) and seven copies augmented by `augment` with the default "
       "`AugmentConfig`, each with its own seed (the titles).\n"
       "```"),
    md("Each part on its own, to see what it does (a config with everything else switched off):"),
    code("none = data.AugmentConfig.none()\n"
         "parts = {'noise': dict(noise_prob=1.0, noise_std=0.08),\n"
         "         'salt & pepper': dict(salt_pepper_prob=1.0, salt_pepper_amount=0.04),\n"
         "         'colour': dict(brightness=0.25, contrast=(0.6, 1.4), saturation=(0.5, 1.5)),\n"
         "         'affine + crop jitter': dict(affine_prob=1.0)}\n"
         "base = gen.sample_at(2).image\n"
         "imgs = [data.augment(base, 7, data.AugmentConfig(**{**none.to_dict(), **kw}))\n"
         "        for kw in parts.values()]\n"
         "fig = viz.image_grid([base] + imgs, ['original', *parts], ncols=5)\n"
         "save_fig(fig, '03_augmentation_parts'); plt.close(fig)"),
    md("```{figure} figures/03_augmentation_parts.png\n"
       ":name: fig-03-augmentation-parts\n"
       ":width: 100%\n"
       "\n"
       "A synthetic plate (original) and each part of the augmentation alone, with everything "
       "else switched off: Gaussian noise, salt-and-pepper noise, colour (brightness, contrast, "
       "saturation), and affine plus crop jitter.\n"
       "```"),
    md("## The pipeline\n\n"
       "`make_dataset` puts it together: decode with `tf.io` (CCPD scenes are warped once, in\n"
       "memory), resize, cache the small uint8 images, shuffle, augment, whiten, batch,\n"
       "prefetch; every `map` runs in parallel (`AUTOTUNE`). `synthetic_dataset` streams plates\n"
       "from the generator through the same steps."),
    code("ds = data.make_dataset(tmp / 'synth', batch_size=4, augment=True)\n"
         "print(ds.element_spec)\n"
         "images, labels = next(iter(ds))\n"
         "print(images.shape, labels.numpy()[0], float(images[0].numpy().mean()).__round__(3))"),
    code("stream = data.synthetic_dataset(count=8, batch_size=8, seed=1)\n"
         "x, y = next(iter(stream))\n"
         "from lpr_lib.plates import labels_to_text\n"
         "fig = viz.image_grid(list(x.numpy()), [labels_to_text(r) for r in y.numpy()], ncols=4)\n"
         "save_fig(fig, '03_pipeline_batch'); plt.close(fig)"),
    md('```{figure} figures/03_pipeline_batch.png\n:name: fig-03-pipeline-batch\n:width: 100%\n\nOne batch of eight synthetic plates as `synthetic_dataset` hands them to the model (rendered, augmented, whitened and shown rescaled), each titled with its plate text.\n```'),
    md("## Is the pipeline fast enough?\n\n"
       "`python -m lpr_lib.data --benchmark` times each pipeline in its steady state and one\n"
       "training step of ResNet-18 at width 0.5 on 48x144 plates (twice the width and 2.25 times\n"
       "the pixels of the book's default model: a stricter test of the pipeline) on a fixed batch, and\n"
       "writes `results/pipeline_benchmark.json`. The committed figures:"),
    code("bench = json.loads((RESULTS_DIR / 'pipeline_benchmark.json').read_text())\n"
         "res = bench['result']\n"
         "print('machine:', bench['meta']['machine']['cpu_count'], 'CPUs, load average before:',\n"
         "      res['load_average_before'], '| commit', bench['meta']['git_commit'][:10])\n"
         "fig = viz.benchmark_figure(res)\n"
         "save_fig(fig, '03_pipeline_benchmark'); plt.close(fig)\n"
         "need, ratio = res['train_step']['img_per_s'], res['pipeline_over_train_step']\n"
         "print(f'a training step consumes {need:.0f} img/s; CPU share of the cached + augment '\n"
         "      f\"pipeline: {1 / ratio['files: cached + augment']:.0%}; rendering + augment \"\n"
         "      f\"delivers {ratio['synthetic stream: render + augment (2 workers)']:.1f}x a step\")\n"
         "pd.DataFrame(res['pipelines']).T[['img_per_s', 'windows_img_per_s']]"),
    md("```{figure} figures/03_pipeline_benchmark.png\n"
       ":name: fig-03-pipeline-benchmark\n"
       ":width: 100%\n"
       "\n"
       "Images per second each input pipeline delivers in its steady state (log scale, the rate "
       "beside each bar), against what one training step consumes (red dashed line), from "
       "`results/pipeline_benchmark.json`.\n"
       "```"),
    md("Reading {numref}`fig-03-pipeline-benchmark` (2 CPU cores shared with other work while it ran: each figure is the\n"
       "best of three windows, and they still vary by up to 2x between runs, so read them as\n"
       "lower bounds and look at the ratios):\n\n"
       "* Decoding small JPEGs is cheap; once decoded and cached, reading is nearly free.\n"
       "* Augmentation is the expensive step, one to two milliseconds per image, and still\n"
       "  delivers several times what a training step consumes on this CPU. Thanks to\n"
       "  `prefetch` it runs ahead of training and takes a modest share of the CPU (printed above).\n"
       "* Rendering plates on the fly is the slow path: Python, sharing the cores with training,\n"
       "  and barely ahead of a step (the ratio above). For CPU training, render once to files\n"
       "  (`lpr synth --count N --out DIR`) and train from the folder; stream from the generator\n"
       "  when a GPU does the training and the CPU is otherwise idle.\n\n"
       "On a GPU a step is far faster and the comparison changes: rerun the benchmark there."),
    md("## Summary\n\n"
       "* `load_samples` reads the seed's label file, `labels.tsv`, plate-named crops, CCPD\n"
       "  scenes (parsed from the name and perspective-warped) and TFRecord into one list.\n"
       "* `lpr check` reports every missing or unreadable image, impossible label, duplicate and\n"
       "  plate shared between datasets, with file and line, before training starts.\n"
       "* The real crops are few, imbalanced (皖 and 苏), contain duplicates and some wrong labels,\n"
       "  and have no eight-character plates.\n"
       "* Split by plate text, never by file.\n"
       "* `preprocess` (resize, whiten) is shared by training and deployment; `augment` is seeded\n"
       "  and stateless; `make_dataset` keeps well ahead of a CPU training step.\n\n"
       "## Exercises\n\n"
       "1. Whitening divides by the image's standard deviation. What happens to a crop that is\n"
       "   almost uniform (a plate in deep shadow)? Where does the $1/\\sqrt{N}$ guard come in?\n"
       "2. Set `crop_jitter=0.15` and look at the augmented plates. At what strength does the\n"
       "   augmentation start to cut characters off, and what would the labels then teach?\n"
       "3. The 32 CCPD scenes' plates all occur among the training crops too. Use `lpr check` to\n"
       "   confirm it. Why does that make them useless as a test set?\n"
       "4. Write a plate-named folder with one mislabelled crop whose file name disagrees with\n"
       "   `labels.tsv`. Which check reports it, and why can no check find the noise in the real\n"
       "   training set?\n"
       "5. Time `make_dataset(..., cache=False)` against the cached version on your machine.\n"
       "   When is caching in memory the wrong choice?"),
]


def strip(path: Path = PATH) -> int:
    """Clear the outputs of cells tagged real-images; return how many were cleared."""
    from run_chapter import strip_real_images  # tools/, beside this script

    return strip_real_images(Path(path))


if __name__ == "__main__":
    if "--strip" in sys.argv:
        print(f"cleared {strip()} cell(s) with real images")
    else:
        write(notebook(cells, language_info=False), PATH)
