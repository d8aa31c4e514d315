"""Writes book/01_introduction.ipynb (the source of the chapter lives here, reviewable as text)."""
import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
    md("# Plates as multi-label classification\n\n"
       "A cropped plate is a short string of known length (7 characters, or 8 for a new-energy\n"
       "plate) drawn from a small alphabet. Instead of detecting characters one by one, or\n"
       "decoding a sequence with CTC, we let one network look at the whole crop and attach\n"
       "**one softmax head per position**: the first head answers *which province?*, the\n"
       "second *which letter?*, and so on along the plate.\n\n"
       "This chapter sets up the notation the rest of the book uses: the alphabet, the plate\n"
       "kinds, and the labels."),
    code('import os\nos.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")\n'
         "from lpr_lib.book import setup, save_fig\nQUICK = setup()\n\n"
         "import lpr_lib\nfrom lpr_lib import plates\nprint('lpr_lib', lpr_lib.__version__)"),
    code("import matplotlib.pyplot as plt\n"
         "from matplotlib.patches import FancyArrowPatch, Rectangle\n"
         "from lpr_lib.synth import PlateGenerator, SynthConfig\n"
         "text = '皖AY766D'\n"
         "plate = PlateGenerator(SynthConfig(), seed=5).render_clean(text, 'blue')\n"
         "labels = plates.text_to_labels(text)\n"
         "fig = plt.figure(figsize=(10, 3.2))\n"
         "ax = fig.add_axes([0, 0, 1, 1]); ax.set_xlim(0, 10); ax.set_ylim(0, 3.2); ax.set_axis_off()\n"
         "ax.imshow(plate, extent=(0.1, 3.1, 1.1, 2.1))\n"
         "ax.text(1.6, 0.8, 'the crop (the model sees 32x96 pixels)', ha='center', fontsize=9)\n"
         "ax.add_patch(Rectangle((3.7, 0.9), 1.6, 1.4, fc='#dde6f0', ec='#335'))\n"
         "ax.text(4.5, 1.6, 'one CNN\\nbackbone', ha='center', va='center', fontsize=10)\n"
         "ax.add_patch(FancyArrowPatch((3.15, 1.6), (3.65, 1.6), arrowstyle='->', mutation_scale=12))\n"
         "for k in range(plates.MAX_LEN):\n"
         "    y = 2.85 - k * 0.36\n"
         "    ax.add_patch(FancyArrowPatch((5.35, 1.6), (6.05, y), arrowstyle='->', mutation_scale=8, lw=0.7))\n"
         "    ax.add_patch(Rectangle((6.1, y - 0.14), 1.2, 0.28, fc='#f3ead8', ec='#864'))\n"
         "    ax.text(6.7, y, f'head {k + 1}', ha='center', va='center', fontsize=8)\n"
         "    answer = (f'{text[k]}   (class {labels[k]})' if labels[k] >= 0\n"
         "              else 'no 8th character   (label -1: no loss)')\n"
         "    ax.text(7.45, y, answer, va='center', fontsize=9)\n"
         "save_fig(fig, '01_plate_to_heads', tight=False); plt.close(fig)"),
    md("```{figure} figures/01_plate_to_heads.png\n"
       ":name: fig-01-plate-to-heads\n:width: 100%\n\n"
       "A plate crop (here a rendered blue plate, 皖AY766D) goes through one convolutional\n"
       "backbone; eight softmax heads each name the character at one position, as a class index\n"
       "into the shared alphabet. A seven-character plate leaves the eighth head without a\n"
       "target: its label is -1 and the loss skips it.\n"
       "```"),
    md("## One alphabet for every head\n\n"
       "All eight heads share one alphabet: the 31 province abbreviations, ten digits, 24 Latin\n"
       "letters (I and O are never used on plates, they would read as 1 and 0) and the special\n"
       "characters of police, learner, trailer, Hong Kong/Macao and diplomatic plates."),
    code("print(len(plates.PROVINCES), 'provinces:', ''.join(plates.PROVINCES))\n"
         "print(len(plates.LETTERS), 'letters:  ', ''.join(plates.LETTERS))\n"
         "print(len(plates.SPECIALS), 'specials: ', ''.join(plates.SPECIALS))\n"
         "print('classes per head:', plates.NUM_CLASSES, ' heads:', plates.MAX_LEN)"),
    md("## Plate kinds\n\n"
       "The national standard GA 36 fixes the colours, the size and which characters may stand\n"
       "where. The kinds the library knows:"),
    code("import pandas as pd\n"
         "pd.DataFrame([(k.name, k.length, k.rows, f'{k.size_mm[0]}x{k.size_mm[1]}', k.description)\n"
         "              for k in plates.KINDS.values()],\n"
         "             columns=['kind', 'characters', 'rows', 'size (mm)', 'what'])"),
    md("## Labels: class indices, and -1 where a position is absent\n\n"
       "A label is a vector of eight class indices. A seven-character plate has no eighth\n"
       "character, so its last entry is $-1$; the loss skips such positions, so the eighth head\n"
       "learns only from new-energy plates. A small extra head predicts the length (7 or 8)."),
    code("for text in ['皖AY766D', '粤BD12345', '沪A1234警', '粤Z1234港']:\n"
         "    labels = plates.text_to_labels(text)\n"
         "    print(f'{text:<9} {plates.infer_kind(text):<12} {labels.tolist()}  ->',\n"
         "          plates.labels_to_text(labels))"),
    md("Impossible plates are rejected with a message that says why, so that a bad label file\n"
       "fails early and clearly rather than in the middle of training:"),
    code("for text in ['皖AI766D', '皖A766D', 'A皖1234A', '粤B123456']:\n"
         "    try:\n        plates.validate(text)\n"
         "    except plates.PlateError as err:\n        print('PlateError:', err)"),
    md("## The road ahead\n\n"
       "The chapters follow the data one way: synthetic plates (chapter 2), real crops and\n"
       "the input pipeline (3), the model and its training (4), the losses (5), the optimizer\n"
       "(6), the metrics (7), and what it takes for a model trained here to read real plates\n"
       "(8).\n\n"
       "## Summary\n\n"
       "* A plate is read by eight softmax heads over one shared alphabet of "
       "74 classes.\n"
       "* Labels are class indices with $-1$ for absent positions; the loss ignores them.\n"
       "* `lpr_lib.plates` validates plate texts against the GA 36 rules.\n\n"
       "## Exercises\n\n"
       "1. Why does a shared alphabet for all heads cost little, even though position 1 can\n"
       "   only ever be a province? What would per-position alphabets change?\n"
       "2. A CTC decoder needs no length head. What does the multi-label model gain in\n"
       "   exchange for needing one?\n"
       "3. Find a plate text that `validate` accepts but that cannot exist on the road."),
]
nb = nbf.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, "book/01_introduction.ipynb")
