"""Writes book/08_real_plates.ipynb (the chapter's source, reviewable as text).

    python tools/real_plates_study.py                 # the runs and results/real_plates_study.json
    python tools/make_real_plates_notebook.py         # write the notebook (no outputs)
    jupyter nbconvert --to notebook --execute --inplace book/08_real_plates.ipynb

No cell shows a real photograph: real crops appear only as text (their plate numbers and
what the model read).
"""
from pathlib import Path

import nbformat as nbf

PATH = Path(__file__).resolve().parent.parent / "book" / "08_real_plates.ipynb"


def md(text):
    return nbf.v4.new_markdown_cell(text)


def code(text):
    return nbf.v4.new_code_cell(text)


def figure(name, label, caption):
    return md(f"```{{figure}} figures/{name}.png\n:name: {label}\n:width: 100%\n\n{caption}\n```")


cells = [
    md("# Real plates: closing the gap between synthetic and real\n\n"
       "Every chapter so far trained on synthetic plates and measured on synthetic plates. A\n"
       "reader in a car park meets real ones. This chapter measures what a model trained here\n"
       "reads on 1,000 real crops from a parking lot (`real_plates/test`, 94x24 pixels), finds\n"
       "what makes synthetic plates teach a model to read real ones, mixes the real crops we\n"
       "have into training, chooses the confidence threshold on a validation split, and ends\n"
       "with the two models that ship inside `lpr_lib`.\n\n"
       "The real photographs are not part of the book (they are not ours to copy): this chapter\n"
       "shows them only as text, the plate numbers and what a model read. Its figures come from\n"
       "the generator and from measurements. When the folder `../shared/real_plates` is absent\n"
       "the cells that read real crops say so and skip."),
    code('import os; os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")\n'
         "from lpr_lib.book import setup, save_fig\nQUICK = setup()\n\n"
         "import json\nimport numpy as np, pandas as pd, matplotlib.pyplot as plt\n"
         "from lpr_lib import data, metrics\nfrom lpr_lib.data import viz\n"
         "from lpr_lib.evaluate import predict_dataset\nfrom lpr_lib.predict import load_model, run_config\n"
         "from lpr_lib.models import SHIPPED, MODELS_DIR\n"
         "from lpr_lib.models.ship import validation_source\n"
         "from lpr_lib.plates import labels_to_text\n"
         "from lpr_lib.repro import RESULTS_DIR, REPO_ROOT, SHARED_REAL\n"
         "from lpr_lib.synth import PlateGenerator, SynthConfig\n"
         "REAL = SHARED_REAL.is_dir()\nprint('real crops present:', REAL)"),
    md("## The gap\n\n"
       "A model that reads nine synthetic plates in ten can read almost no real one. Trained on\n"
       "32,768 synthetic plates at 48x144 it reached 79% on synthetic validation and 2.4% on the\n"
       "real test; a full-width ResNet-18 trained on a GPU on 60,000 plates reached 90% and 2.0%.\n"
       "Capture effects (blur, down-then-up scaling, JPEG, light) lifted that only to 3%. The\n"
       "generator's plates matched the real crops in brightness, contrast and saturation: the\n"
       "difference was in what the crops *frame*.\n\n"
       "A real crop comes from a detector, and most detectors box the characters, not the plate:\n"
       "the white frame and the rivets are cut off at the top and bottom, the characters fill\n"
       "85-95% of the crop's height, and a 440x140 mm plate cut to its 90 mm of characters is\n"
       "4.4 times as wide as it is high, squeezed into a 3:1 input. So the real digits look\n"
       "taller and narrower than the generator's, whose crops all showed the whole plate with\n"
       "some car around it. The generator now frames half of its crops tight\n"
       "(`SynthConfig.tight_crops`, default 0.5) and half loose:"),
    code("fig, axes = plt.subplots(2, 4, figsize=(10, 2.6))\n"
         "for row, tight in enumerate((0.0, 1.0)):\n"
         "    gen = PlateGenerator(SynthConfig(size=(32, 96), kinds={'blue': 1.0}, tight_crops=tight), seed=11)\n"
         "    for ax, i in zip(axes[row], range(4)):\n"
         "        ax.imshow(gen.sample_at(i).image); ax.set_axis_off()\n"
         "    axes[row, 0].set_title(['loose crops (tight_crops=0)', 'tight crops (tight_crops=1)'][row],\n"
         "                           loc='left', fontsize=10)\n"
         "save_fig(fig, '08_tight_crops'); plt.close(fig)"),
    figure("08_tight_crops", "fig-08-tight-crops",
           "The same four synthetic plates framed loose (top: the whole plate and some car, every "
           "crop before this chapter) and tight (bottom: the frame cut off above and below the "
           "characters, as a detector boxes them), at the model's 32x96 input."),
    md("## Training on many plates, and on real ones\n\n"
       "Three things the training run needed to learn from real plates, all in the experiment\n"
       "config:\n\n"
       "* **many distinct synthetic plates**: `data.synthetic_train` plates are rendered once on\n"
       "  every core (about 400 plates/s on 2 cores at 32x96) and cached under `runs/synth/`, so\n"
       "  a re-run or a resumed run does not render again;\n"
       "* **a mixture of sources**: `data.mix` lists sources with weights. Each source is\n"
       "  decoded once, shuffled and repeated on its own, and every image of a batch is drawn\n"
       "  from source $i$ with probability $w_i / \\sum_k w_k$; the 1,531 real crops are seen\n"
       "  many times, each time augmented anew (including the capture resolution: a sharp\n"
       "  136x36 crop shrunk and enlarged again looks like a 94x24 one);\n"
       "* **a validation split of the real crops, by plate text** (`data.val_split`): the best\n"
       "  checkpoint and the confidence threshold are chosen on plates the model never trained\n"
       "  on, and never on the test set. `init_from` starts a run from a trained model\n"
       "  (fine-tuning).\n\n"
       "The shipped model's config (the section *Boxes as a detector draws them* below says why\n"
       "48x144 and this augmentation):"),
    code("print((REPO_ROOT / 'configs' / 'real_mix_48.yaml').read_text())"),
    md("## What each change does\n\n"
       "Each row of the study below is one config trained on the 2-core CPU (the script\n"
       "`tools/real_plates_study.py` trains and measures them), and each is measured the same\n"
       "way: plate accuracy on 512 synthetic validation plates, on the held-out 10% of the real\n"
       "training crops (by plate text) and on the 1,000 real test crops."),
    code("study = json.loads((RESULTS_DIR / 'real_plates_study.json').read_text())['result']\n"
         "table = pd.DataFrame({k: {'what': r['what'], 'synthetic val': r['synthetic_val']['plate_accuracy'],\n"
         "                          'real val': r['real_val']['plate_accuracy'],\n"
         "                          'real test': r['real_test']['plate_accuracy'],\n"
         "                          'real test, characters': r['real_test']['char_accuracy'],\n"
         "                          'training minutes': round(r['train_seconds'] / 60, 1)}\n"
         "                      for k, r in study.items()}).T\n"
         "pd.set_option('display.max_colwidth', 60)\n"
         "table.round(3)"),
    code("fig, ax = plt.subplots(figsize=(8, 3.4))\n"
         "keys = list(table.index); y = np.arange(len(keys))\n"
         "ax.barh(y - 0.2, table['real test'].astype(float), 0.4, label='real test')\n"
         "ax.barh(y + 0.2, table['synthetic val'].astype(float), 0.4, label='synthetic validation')\n"
         "ax.set_yticks(y, keys); ax.invert_yaxis(); ax.set_xlim(0, 1)\n"
         "ax.set_xlabel('plate accuracy'); ax.legend(loc='upper right')\n"
         "save_fig(fig, '08_study'); plt.close(fig)"),
    figure("08_study", "fig-08-study",
           "Plate accuracy on the 1,000 real test crops and on synthetic validation plates, one bar "
           "pair per training run of the study (rows as in the table above)."),
    md("What the study says (its first six rows ran at 32x96 with the generator's first lettering,\nthe one the next section replaces, and at a peak learning rate of 2e-3; the default is now\n8e-3 at 48x144):\n\n* **The generator alone does not teach a model to read real plates.** Trained on synthetic\n  plates only, the default run reads 1.5% of the real test plates (52% of their characters);\n  the same run with every crop loose, 3.2%. Framing the crops tight, as real ones are, lifted\n  the characters read on the held-out real crops from 52% to 60%, but not the plates, and on\n  the test crops it did not help. The gap lies elsewhere. Two places are visible in the\n  numbers: the province mix (the generator draws 皖 on 3.8% of its plates; 96% of the test\n  plates are 皖, and the synthetic model reads the first character of only 22.5% of them right),\n  and the glyphs (the generator's font is not the plate font: its digits are wider, and its\n  1, 0, 6 and 7 have other shapes).\n* **Real crops do.** Mixed 1:1 into every batch at the same quarter-hour budget, the 1,377\n  real training crops lift the real test to 32.2%; trained on the real crops alone,\n  6.3%.\n* **Fine-tuning is the quickest way there**: two and a half minutes of the mixture on top of\n  the synthetic model read 34.3% of the test plates.\n* **Time helps**: the same mixture for 40 epochs (an hour) reads 56.4%. Run again with the\n  new lettering and the learning rate 8e-3 it read 78.6% (the two changes were made together,\n  so this does not say which of them did how much).\n* **The next two rows** are a later section's: 30 more epochs of that 78.6% model with the\n  augmentation of a detector's boxes read 79.4%; the same mixture at 48x144 with that\n  augmentation, from scratch, reads 84.1%, and is the shipped `mixed` model. LPRNet, trained\n  on about 27,000 real plates, reads 89.9%: the shipped model is not there yet.\n* **The last three rows** train on synthetic plates alone at 48x144, with three\n  augmentations (the section after those two says what they show)."),
    code("fig, ax = plt.subplots(figsize=(7, 3.4))\n"
         "for k, r in study.items():\n"
         "    h = pd.DataFrame(r['history'])\n"
         "    ax.plot(h.seconds.cumsum() / 60, h.val_chars_plate_acc, 'o-', ms=3, label=k)\n"
         "ax.set(xlabel='training minutes (2 CPU cores)', ylabel='validation plate accuracy', ylim=(0, 1))\n"
         "ax.legend(fontsize=8)\nsave_fig(fig, '08_curves'); plt.close(fig)"),
    figure("08_curves", "fig-08-curves",
           "Validation plate accuracy after each epoch against training time (the fine-tuned run's "
           "minutes leave out the 13 of the synthetic model it starts from). A run with real "
           "crops validates on held-out real plates; a synthetic-only run on synthetic plates, "
           "so the curves say how fast each run learns its own task, not which reads real "
           "plates better (the table does)."),
    md("## Lettering like real plates\n\n"
       "Where did the synthetic-only model go wrong on the held-out real crops? Apart from the\n"
       "province, mostly where a digit meets a letter of the same outline: real 8 read as B, 3 as\n"
       "5, 0 as D or C, 6 as G, and 1 as 7, Y or V. Put real crops beside synthetic plates of the\n"
       "same text and the reason shows: real plates are lettered in the plate face of the GA 36\n"
       "standard, whose digits are narrower than the generator's font and drawn with thinner\n"
       "strokes, and whose \"1\" is a plain vertical bar with no flag. No free font reproduces\n"
       "that face, so the generator now letters each plate from `SynthConfig.lettering` instead\n"
       "of one font: one of three condensed faces (Noto Sans, Barlow Condensed and Roboto\n"
       "Condensed, all under the SIL Open Font License), a width and a stroke weight drawn for\n"
       "each plate, a plain-bar \"1\" on nine plates in ten, and a Chinese character that is\n"
       "sometimes smaller than its box and sometimes not bold. `Lettering.legacy()` draws the\n"
       "plates as before."),
    code("from lpr_lib.synth import Lettering, no_degradations\n"
         "texts = ['皖A8B301', '皖K3D150', '皖N7T691', '苏G0S265']\n"
         "fig, axes = plt.subplots(2, 4, figsize=(10, 2.2))\n"
         "for row, lettering in enumerate((Lettering.legacy(), Lettering())):\n"
         "    gen = PlateGenerator(SynthConfig(size=(64, 192), tight_crops=1.0,\n"
         "                                     degradations=no_degradations(), lettering=lettering))\n"
         "    for ax, (i, text) in zip(axes[row], enumerate(texts)):\n"
         "        ax.imshow(gen.render(text, 'blue', np.random.default_rng(i))); ax.set_axis_off()\n"
         "    axes[row, 0].set_title(['the first lettering (Lettering.legacy())',\n"
         "                            'the lettering now (Lettering())'][row], loc='left', fontsize=9)\n"
         "save_fig(fig, '08_lettering'); plt.close(fig)"),
    figure("08_lettering", "fig-08-lettering",
           "The same four plates, clean and tight, lettered as the generator first drew them (top:\n"
           "one font, wide digits, heavy strokes, a flagged \"1\") and as it draws them now (bottom:\n"
           "a face, width and weight drawn for each plate, the plain-bar \"1\")."),
    md("To measure the change, the default model (ResNet-18 at width 0.25, 32x96) was trained\n"
       "twice on 20,000 synthetic plates, once with each lettering, with the same seed and the\n"
       "same budget (6 epochs of 400 batches of 64, about 6.5 minutes on 2 CPU cores; the script\n"
       "`tools/sim_to_real_study.py` runs it on Keras 3's JAX backend, so that it also runs on a\n"
       "GPU machine without TensorFlow), and read the same real crops:"),
    code("lettering = json.loads((RESULTS_DIR / 'lettering_study.json').read_text())['result']['runs']\n"
         "pd.DataFrame({name: {'synthetic val': r['synthetic_val']['plate_accuracy'],\n"
         "                     'real val': r['real_val']['plate_accuracy'],\n"
         "                     'real test': r['real_test']['plate_accuracy'],\n"
         "                     'real test, characters': r['real_test']['char_accuracy'],\n"
         "                     'real test, province': r['real_test']['per_position'][0],\n"
         "                     'training minutes': r['train_seconds'] / 60}\n"
         "              for name, r in lettering.items()}).T.round(3)"),
    md("With the new lettering the same model reads 11.4% of the real test plates instead of\n"
       "2.7%, and 68% of their characters instead of 53%; it also learns its synthetic plates\n"
       "faster (41.8% against 16.6% on synthetic validation after the same six epochs). The\n"
       "province is now the weakest position by far: the test plates are 96% 皖, and the\n"
       "synthetic model reads only a third of them as 皖 (the rest as 冀, 陕, 鲁, 粤...). The\n"
       "generator's Chinese characters come from a sans-serif CJK font, not the plate face: that\n"
       "is the next difference to close for a model that has never seen a real plate. Lighter\n"
       "strokes are not it: with Noto Sans SC Light among the Chinese faces the same run read\n"
       "9.5% of the test plates and 30.5% of their provinces\n"
       "(`results/lettering_light_cjk_trial.json`), so that face is there\n"
       "(`SynthConfig.lettering.cjk_fonts`) but off. A model that sees real crops learns the\n"
       "real 皖 from them.\n\n"
       "Chapter 4's default run at 32x96 (40,000 synthetic plates, 7 epochs, with the new\n"
       "lettering and the learning rate 8e-3) read 13.2% of the real test plates and 72.5% of\n"
       "their characters, against 1.5% and 52% for the study's synthetic-only run above. The\n"
       "default is now 48x144 and 9 epochs (the section after next says why): 29.3% and 80.5%,\n"
       "and it is the shipped `synthetic` model."),
    md("## Three heads\n\n"
       "The backbone leaves a 2x6 map of features; the head turns it into eight characters.\n"
       "Three ways to do it (`model.pooling`): **flatten**, the default, hands every position's\n"
       "classifier the whole map, cell by cell, so each classifier learns *where* its character\n"
       "stood on the training plates; **avg**, the seed's global average pooling, keeps one\n"
       "vector for the whole plate, and every classifier must find its character in a sum\n"
       "from which the where has been averaged away; **attention** learns one map of weights\n"
       "per position (a 1x1 convolution and a softmax over the 12 cells), reads each character's\n"
       "features where its map points, and classifies them with a classifier of its own, so a\n"
       "character that stands a little left or right of where it stood in training is still\n"
       "found. Trained as in the lettering study (the generator's plates, the same seed and\n"
       "budget):"),
    code("heads = json.loads((RESULTS_DIR / 'head_study.json').read_text())['result']['runs']\n"
         "display(pd.DataFrame({name: {'parameters': r['params'],\n"
         "                             'synthetic val': r['synthetic_val']['plate_accuracy'],\n"
         "                             'real val': r['real_val']['plate_accuracy'],\n"
         "                             'real test': r['real_test']['plate_accuracy'],\n"
         "                             'real test, characters': r['real_test']['char_accuracy'],\n"
         "                             'real test, province': r['real_test']['per_position'][0],\n"
         "                             'training minutes': r['train_seconds'] / 60}\n"
         "                      for name, r in heads.items()}).T.round(3))\n"
         "fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)\n"
         "for name, r in heads.items():\n"
         "    h = pd.DataFrame(r['history'])\n"
         "    for ax, key in zip(axes, ('synthetic_val', 'real_val')):\n"
         "        ax.plot(h.epoch + 1, h[key], 'o-', ms=3, label=name)\n"
         "for ax, title in zip(axes, ('synthetic validation plates', 'held-out real crops')):\n"
         "    ax.set(xlabel='epoch', title=title, ylim=(0, 1)); ax.legend(fontsize=8)\n"
         "axes[0].set_ylabel('plate accuracy')\n"
         "save_fig(fig, '08_heads'); plt.close(fig)"),
    figure("08_heads", "fig-08-heads",
           "Plate accuracy after each epoch of the three heads, trained on synthetic plates alone: "
           "on synthetic validation plates (left) and on the held-out real crops (right)."),
    md("The flatten and attention heads learn the synthetic plates about equally fast (41.8% and\n"
       "44.9% of the validation plates after six epochs) and read real plates about equally\n"
       "badly (11.4% and 9.0% of the test plates; either reads the province of only a third of\n"
       "them). Global average pooling, the seed's head, learns far more slowly: 21.7% of the\n"
       "synthetic plates and 1.8% of the real ones after the same budget. The attention head\n"
       "has half the parameters (0.55 M against 1.17 M: each classifier reads 96 features, not\n"
       "1,152) for the same accuracy, and its maps show where it looks; but it does not close\n"
       "the gap to real plates, which lies in what the synthetic plates look like, not in where\n"
       "their characters stand. The default stays `flatten`."),
    md("## Boxes as a detector draws them\n\n"
       "The real test crops are not cut the way the real training crops are. The CCPD crops\n"
       "among the training crops were warped out of their scenes by the plate's four corners:\n"
       "straight, the character row level. The test crops are a detector's axis-aligned boxes.\n"
       "A plate seen from one side comes out of such a box with its character row slanted while\n"
       "each character stays upright (a *vertical shear*), often turned a few degrees, boxed\n"
       "loose or tight, small and blurred, and in the colour a car-park camera gives it. Two\n"
       "settings of the augmentation draw what the generator and the rectified crops lack:\n"
       "`shear_y` (the output pixel $(x, y)$ samples the input at $y - k\\,(x - x_c)$, with $k$\n"
       "drawn for each image between minus and plus `shear_y`) and `channel_gain` (each colour channel\n"
       "scaled by its own factor, a colour cast small enough that a blue plate stays blue);\n"
       "rotation, crop jitter and the share of low-resolution captures go up with them."),
    code("from lpr_lib.synth import no_degradations\n"
         "from lpr_lib.train import ExperimentConfig\n"
         "detector = data.AugmentConfig.from_dict(\n"
         "    ExperimentConfig.from_yaml(REPO_ROOT / 'configs' / 'real_mix_48.yaml').data.augment)\n"
         "gen = PlateGenerator(SynthConfig(size=(48, 144), kinds={'blue': 1.0}, tight_crops=1.0,\n"
         "                                 degradations=no_degradations()), seed=5)\n"
         "clean = [gen.sample_at(i).image for i in range(4)]\n"
         "rows = [clean, [data.augment(im, 40 + i) for i, im in enumerate(clean)],\n"
         "        [data.augment(im, 40 + i, detector) for i, im in enumerate(clean)]]\n"
         "fig = viz.image_grid([im for row in rows for im in row], ncols=4, width=2.4)\n"
         "for ax, title in zip(fig.axes[::4], ('clean synthetic plates', 'the default augmentation',\n"
         "                                     \"a detector's boxes (real_mix_48.yaml)\")):\n"
         "    ax.set_title(title, loc='left', fontsize=9)\n"
         "save_fig(fig, '08_detector_boxes'); plt.close(fig)"),
    figure("08_detector_boxes", "fig-08-detector-boxes",
           "Four clean synthetic plates (top), under the default augmentation (middle) and under "
           "the augmentation of the shipped model's config (bottom): character rows slanted, "
           "boxes loose and tight, colour casts, low-resolution captures."),
    md("The second change is the input size. At 32x96 the backbone's last map is 2x6 cells\n"
       "(it divides each side by 16), so seven characters share six columns, and the pairs the\n"
       "mixed model confused most, 0 and D, Q and 0, 8 and B, differ by a few pixels of a\n"
       "corner. At the seed's 48x144 the map is 3x9 cells, at 2.25 times the compute. Two runs,\n"
       "two rows of the study's table (`mixed_finetuned`, `mixed_48x144`):\n\n"
       "* the 32x96 mixed model (78.6% of the real test plates) trained 30 more epochs with the\n"
       "  detector-box augmentation (`configs/real_mix_ft.yaml`, 21 minutes) reads 79.4% of\n"
       "  the test plates and 95.2% of their characters, and 91.6% of the held-out real plates\n"
       "  (93.5% before: the difference is three plates of 154). Without a control run of 30\n"
       "  more epochs with the default augmentation, the 0.8 points cannot be put down to the\n"
       "  augmentation;\n"
       "* the same mixture at 48x144 with the detector-box augmentation, from scratch\n"
       "  (`configs/real_mix_48.yaml`, 36 epochs, 49 minutes on 2 cores), reads 97.4% of the\n"
       "  held-out real plates, 84.1% of the test plates and 96.4% of their characters, and\n"
       "  86.1% of the synthetic validation plates (70.5% for the 32x96 model). It fits its\n"
       "  training batches far better too (89% of the augmented plates against 73%): the\n"
       "  coarse grid, not the data, was holding the smaller input back. That run changed the\n"
       "  input size and the augmentation together; the fine-tuning above suggests that most\n"
       "  of its gain is the input size. It is the shipped `mixed` model.\n\n"
       "The finer grid helps a model that sees only synthetic plates just as much. Chapter 4's\n"
       "default run, moved from 32x96 to 48x144 (and from 7 to 9 epochs, the same quarter of an\n"
       "hour), reads 88% of its synthetic validation plates instead of 55%, and 29.3% of the real\n"
       "test plates instead of 13.2% (80.5% of their characters instead of 72.5%)."),
    md("## Synthetic plates alone, boxed like a detector's\n\n"
       "Does the detector-box augmentation help a model that never sees a real plate? Three\n"
       "runs of the default (48x144, 9 epochs of the same 40,000 synthetic plates, one seed),\n"
       "the study's last three rows:\n\n"
       "| augmentation | real test plates | their characters | their provinces | held-out real crops | synthetic validation |\n"
       "|---|---|---|---|---|---|\n"
       "| the default | 29.3% | 80.5% | 53.0% | 50.6% | 86.5% |\n"
       "| a detector's boxes (`real_mix_48.yaml`'s) | **38.0%** | 83.3% | 68.9% | 45.5% | 86.5% |\n"
       "| the same, 80% of the plates captured at 40-70% of the input size | 32.8% | 81.7% | 70.0% | 43.5% | 85.0% |\n\n"
       "The detector's boxes lift the real test by nearly nine points, most of it in the province\n"
       "(the blurred 皖 of a car-park camera), and cost nothing on synthetic plates. More\n"
       "low-resolution captures go too far: the province gains a little more, the other\n"
       "characters lose. Read the 38% with care, for two reasons. The held-out real crops do not\n"
       "show the gain (they drop by five points, 8 plates of 154): they are rectified crops, not\n"
       "a detector's boxes, and only the test crops are. And the augmentation was designed by\n"
       "looking at what the test crops are like, so its figure on them is an optimistic one. The\n"
       "default augmentation therefore stays as it is; a reader whose crops come from a detector\n"
       "has the same reason as the shipped `mixed` config to use this one\n"
       "(`lpr train --set 'data.augment={rotation_deg: 6, shear_y: 0.08, ...}'`). A synthetic-only\n"
       "model is still far from the 60% this chapter set out to reach: what remains is the\n"
       "province's glyph and the digits that blur into letters (8 as B, 0 as D, 2 as Z, 9 as P,\n"
       "the commonest misreadings of the default model)."),
    md("## Where the readers fail\n\n"
       "Per position, on the real test crops, for the two shipped models; then the most\n"
       "frequent misreadings of the mixed model, as text."),
    code("readers = {name: load_model(name) for name in SHIPPED}\n"
         "if REAL:\n"
         "    test = data.load_samples(SHARED_REAL / 'test')\n"
         "    reads = {}\n"
         "    for name, m in readers.items():\n"
         "        out, labels = predict_dataset(m, test)\n"
         "        reads[name] = metrics.decode(out['chars'], out['length'])[0]\n"
         "    positions = pd.DataFrame({name: metrics.per_position_accuracy(p, labels)[:7]\n"
         "                              for name, p in reads.items()},\n"
         "                             index=[f'position {j + 1}' for j in range(7)]).T\n"
         "    display(positions.round(3))\n"
         "    display(pd.DataFrame(metrics.confusions(reads['mixed'], labels, top=12)))\n"
         "else:\n"
         "    print('../shared/real_plates is absent: no real-test error analysis')"),
    md("Most misread plates (98 of 159) have a single wrong character, and the province is no\n"
       "longer the weak place: 98.1% of the test plates' provinces are read right (95.6% at\n"
       "32x96, where 皖 was often read as 苏, the two provinces that dominate the real training\n"
       "crops). What is left are the pairs every plate reader fights, at 94x24 pixels a few\n"
       "pixels of a corner or a stroke apart: H and N, L and 1, 6 and 4, D and 0, B and 8, T, 7\n"
       "and 1; and, on eight plates, a seventh character read twice, which makes a 7-character\n"
       "plate an 8-character one. The 44 test plates of other provinces are read worse than\n"
       "the 956 of 皖 (70% against 85%): a handful of real crops per province is not enough,\n"
       "and the synthetic plates do not yet teach the rest."),
    code("if REAL:\n"
         "    wrong = np.flatnonzero(~metrics.plate_correct(reads['mixed'], labels))\n"
         "    print(f'{len(wrong)} of {len(labels)} test plates misread by the mixed model; the first 12:')\n"
         "    for i in wrong[:12]:\n"
         "        print(f'  {labels_to_text(labels[i])}  read as  {labels_to_text(reads[\"mixed\"][i])}')\n"
         "    n_wrong = (reads['mixed'] != labels).sum(1)[wrong]\n"
         "    print('wrong characters per misread plate:', {int(k): int(v) for k, v in zip(*np.unique(n_wrong, return_counts=True))})\n"
         "    ok = metrics.plate_correct(reads['mixed'], labels)\n"
         "    anhui = np.array([labels_to_text(l)[0] == '皖' for l in labels])\n"
         "    print(f'plate accuracy on the {anhui.sum()} 皖 plates: {ok[anhui].mean():.3f}, '\n"
         "          f'on the {(~anhui).sum()} of other provinces: {ok[~anhui].mean():.3f}')"),
    md("## Choosing the threshold on validation\n\n"
       "The seed's commercial target is a threshold at which 99.9% of the accepted plates are\n"
       "right while at least 80% of all plates are accepted. The threshold must be chosen on\n"
       "data the model did not train on and that is not the test set: the held-out real plates.\n"
       "The test set then says whether the choice holds on plates nobody looked at."),
    code("mixed = readers['mixed']\n"
         "shipped = json.loads((MODELS_DIR / 'mixed' / 'result.json').read_text())['result']\n"
         "chosen = shipped['threshold']['product']\n"
         "if REAL:\n"
         "    out, val_labels = predict_dataset(mixed, validation_source(run_config(mixed)))\n"
         "    pred, top = metrics.decode(out['chars'], out['length'])\n"
         "    conf = metrics.plate_confidence(top, pred, 'product', out['length'])\n"
         "    thr, prec, rec = metrics.pr_curve(conf, metrics.plate_correct(pred, val_labels))\n"
         "    fig, ax = plt.subplots(figsize=(6, 3.4))\n"
         "    ax.plot(thr, prec, label='precision'); ax.plot(thr, rec, label='recall')\n"
         "    if chosen is not None:\n"
         "        ax.axvline(chosen, color='k', ls='--', lw=1, label=f'chosen: {chosen:.3f}')\n"
         "    ax.set(xlabel='plate confidence threshold (product)', ylim=(0, 1.01)); ax.legend(loc='lower left')\n"
         "    save_fig(fig, '08_threshold'); plt.close(fig)\n"
         "    print(f'validation: {len(val_labels)} held-out real crops')\n"
         "t = shipped['real_test']\n"
         "if t is not None:\n"
         "    k = t['thresholds'].index(chosen) if chosen in t['thresholds'] else None\n"
         "    for name, j in (('0.85', 0), ('0.95', 1), ('chosen on validation', k)):\n"
         "        if j is not None:\n"
         "            p, r = t['confidence']['product']['precision'][j], t['confidence']['product']['recall'][j]\n"
         "            print(f'real test at {name:22s} precision {p:.4f}  recall {r:.4f}')"),
    figure("08_threshold", "fig-08-threshold",
           "Precision and recall of the mixed model on the held-out real crops of its training set "
           "as the confidence threshold rises; the dashed line is the lowest threshold with "
           "99.9% precision there, the one the shipped model uses."),
    md("On the 154 held-out real plates, the lowest threshold with 99.9% precision is 0.993\n"
       "(product confidence): the 97 plates above it are all right, a recall of 63%. (With 154\n"
       "plates, 99.9% cannot be told from 100%: four plates are misread, and the threshold\n"
       "rises above the most confident of them.) On the test set that threshold gives 100%\n"
       "precision at 35.3% recall. The precision carries over; the recall does not, because the\n"
       "held-out plates, photographed with the training crops, are read better (97.4%) than the\n"
       "test plates (84.1%). At the seed's later threshold of 0.85 the test's precision is 97.3%\n"
       "at 72.6% recall. Either way it is short of the seed's 99.9% at 80%: a reader that is\n"
       "right on 84% of the plates cannot accept 80% of them at 99.9% precision; the spec needs\n"
       "a reader that is right on well over 90% first, and more held-out plates to choose its\n"
       "threshold on."),
    md("## The shipped models\n\n"
       "Two models ship inside the package (about 5 MB each) and load offline by name:\n"
       "`lpr eval DATA` and `lpr predict IMAGE...` use `mixed` unless told otherwise,\n"
       "`--model synthetic` picks the other, and a path picks a run of yours. The real crops\n"
       "hold only blue and yellow plates; every other kind is measured on 200 synthetic plates\n"
       "of that kind, rendered with a seed no training set uses."),
    code("rows = {}\n"
         "for name in SHIPPED:\n"
         "    r = json.loads((MODELS_DIR / name / 'result.json').read_text())['result']\n"
         "    rows[name] = {'real test': (r['real_test'] or {}).get('plate_accuracy'),\n"
         "                  'validation': r['validation']['plate_accuracy'],\n"
         "                  **{k: v['plate_accuracy'] for k, v in r['synthetic_kinds_test'].items()}}\n"
         "pd.DataFrame(rows).T.round(3)"),
    md("The mixed model reads 91-99% of the synthetic single-row plates of every kind (police,\n"
       "Hong Kong/Macao, embassy, new-energy green included), though only blue and yellow plates\n"
       "were among its real crops, but few double-row plates (yellow double-row 17%, trailer\n"
       "14%), at 48x144 as at 32x96 (8-11%): a grid of 3x9 cells laid over two rows of\n"
       "characters gives each row one and a half cells, and the flatten head's classifiers\n"
       "learn one layout best; double-row plates need a head of their own, or many more of them\n"
       "in training. The synthetic model reads 89-99% of the plates of each single-row kind and\n"
       "26-28% of the double-row ones, near its 88% on synthetic validation."),
    md("## Summary\n\n"
       "* A model that reads half of the synthetic plates can read almost none of the real ones.\n  Framing the synthetic crops tight, as real crops are, did not change that; lettering them\n  like real plates (narrow digits, thin strokes, the plain-bar 1) did, and so did the finer\n  grid of 48x144: chapter 4's default run now reads 29% of the real test plates, 38% when\n  its plates are boxed like a detector's (an optimistic figure: the test crops are what\n  that augmentation was designed from). The province's Chinese character is where the\n  generator now differs most from real plates.\n* Real crops, even 1,377 of them, are worth more than tens of thousands of synthetic plates:\n  mixed 1:1 into every batch they lifted the real test from 1.5% to 32.2% in the same quarter\n  of an hour; fine-tuning the synthetic model got to 34% in minutes; 40 epochs of the\n  mixture with the new lettering read 78.6%, and at 48x144 with a detector's boxes, 84.1%.\n* Checkpoints and thresholds are chosen on held-out real plates, split by plate text; the test\n  set only reports.\n* A finer grid reads real plates better: at 48x144 the backbone's last map has 3x9 cells\n  (2x6 at 32x96), and the same mixture read 84.1% of the test plates instead of 79%.\n* The shipped `mixed` model is right on all the test plates it is sure of at the threshold\n  chosen on validation, and sure of 35.3% of them; at 0.85, 97.3% at 72.6%: short of the\n  seed's 99.9% precision at 80% recall, and of LPRNet's 89.9% plate accuracy.\n\n"
       "## Exercises\n\n"
       "1. Train the default model with `--set data.synth={tight_crops: 1.0}` and with `0.0`.\n"
       "   What does each do to the real test, and to the synthetic validation?\n"
       "2. Change the mixture's weights in `configs/real_mix_48.yaml` to 3:1 and 1:3 (synthetic to\n"
       "   real). Which kinds of the synthetic per-kind test suffer when real crops dominate?\n"
       "3. Fine-tune the shipped `synthetic` model on your own plates with `init_from` and a\n"
       "   `data.mix` of them and synthetic plates. How few of your plates are enough?\n"
       "4. Train `configs/real_mix_ft.yaml` again with `--set data.augment=true` (the default\n"
       "   augmentation, the same 30 epochs): how much of its 0.8 points on the test plates was\n"
       "   the detector-box augmentation, and how much the 30 more epochs?\n"
       "5. The training crops carry some wrong labels (a crop labelled 苏EE91W3 shows 苏K73397).\n"
       "   Find them with the shipped model: which training crops does it read confidently as\n"
       "   another plate?"),
]

nb = nbf.v4.new_notebook()
nb.cells = cells
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}

if __name__ == "__main__":
    nbf.write(nb, PATH)
    print(f"wrote {PATH}")
