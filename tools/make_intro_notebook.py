"""Writes book/01_introduction.ipynb (the source of the chapter lives here, reviewable as text)."""
import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
    md("# Plates as multi-label classification\n\n"
       "A cropped plate is a short string of known length (7 characters, or 8 for a new-energy\n"
       "plate) drawn from a small alphabet. Instead of detecting characters one by one, or\n"
       "decoding a sequence with CTC, we let one network look at the whole crop and attach\n"
       "**one softmax head per position**. Head $k$ answers *which character stands at position $k$?*\n\n"
       "This chapter sets up the notation the rest of the book uses: the alphabet, the plate\n"
       "kinds, and the labels."),
    code('import os\nos.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")\n'
         "from lpr_lib.book import setup, save_fig\nQUICK = setup()\n\n"
         "import lpr_lib\nfrom lpr_lib import plates\nprint('lpr_lib', lpr_lib.__version__)"),
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
       "The chapters follow the data one way: synthetic plates and real crops, the input\n"
       "pipeline, the model and its training, the losses, the optimizer, the metrics, and\n"
       "the seed's ablation table reproduced.\n\n"
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
