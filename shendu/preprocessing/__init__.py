"""Data preprocessing that tf.keras tutorials use: `text` (Tokenizer) and `sequence` (pad_sequences).

These run before the model, on Python lists and NumPy arrays, so they need no autograd.
"""
from shendu.preprocessing import sequence, text
from shendu.preprocessing.sequence import make_sampling_table, pad_sequences, skipgrams
from shendu.preprocessing.text import Tokenizer, text_to_word_sequence, tokenizer_from_json

__all__ = ["sequence", "text", "Tokenizer", "text_to_word_sequence", "tokenizer_from_json",
           "pad_sequences", "make_sampling_table", "skipgrams"]
