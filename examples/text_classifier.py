"""A sentiment classifier the way the tutorials build one: Tokenizer → texts_to_sequences → pad_sequences →
Embedding → LSTM → Dense(sigmoid), trained on review sentences labelled positive (1) or negative (0).

--lang en: the UCI "Sentiment Labelled Sentences" embedded in shendu (3,000 English reviews).
--lang zh: the embedded Chinese sample (600 template-generated reviews), split into characters
           (Tokenizer(char_level=True)), or into words with --words (jieba, the 'zh' extra).
Run: python examples/text_classifier.py [--lang en|zh] [--epochs 8] [--data DIR]
"""
from __future__ import annotations

import argparse

import numpy as np

import shendu.keras as keras
from shendu.data.datasets import load_sentiment, load_sentiment_zh
from shendu.keras.preprocessing.sequence import pad_sequences
from shendu.keras.preprocessing.text import Tokenizer
from shendu.preprocessing.chinese import segment_words


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--words", action="store_true", help="zh: segment words with jieba instead of characters")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--maxlen", type=int, default=40)
    parser.add_argument("--data", default=None, help="a folder holding sentiment/ (en) or sentiment_zh/ (zh)")
    args = parser.parse_args(argv)

    texts, labels = load_sentiment(args.data) if args.lang == "en" else load_sentiment_zh(args.data)
    order = np.random.default_rng(42).permutation(len(texts))
    texts, labels = [texts[i] for i in order], labels[order]
    cut = int(0.8 * len(texts))
    if args.lang == "en":
        tokenizer = Tokenizer(num_words=5000, oov_token="<OOV>")
    elif args.words:
        tokenizer = Tokenizer(oov_token="<OOV>", analyzer=segment_words)
    else:
        tokenizer = Tokenizer(char_level=True, oov_token="<OOV>")
    tokenizer.fit_on_texts(texts[:cut])                  # the vocabulary comes from the training texts only
    x = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=args.maxlen, padding="post", truncating="post")
    x_train, y_train, x_test, y_test = x[:cut], labels[:cut], x[cut:], labels[cut:]
    vocabulary = min(len(tokenizer.word_index) + 1, tokenizer.num_words or 10**9)
    print(f"{len(texts)} sentences, vocabulary {vocabulary}, first one as ids: {x_train[0][:12].tolist()} ...")
    if args.lang == "zh" and not args.words:
        print("back to text:", tokenizer.sequences_to_texts([[i for i in x_train[0] if i]], join="")[0])

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(args.maxlen,)),
        keras.layers.Embedding(vocabulary, 32, mask_zero=True),
        keras.layers.LSTM(32),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_data=(x_test, y_test), verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"held-out sentences: loss {loss:.4f}, accuracy {accuracy:.1%}")
    samples = (["what a great phone, I love it", "the worst film I have ever seen"] if args.lang == "en"
               else ["这家餐厅非常好，下次还会再来。", "这本书太差了，不要买。"])
    scores = model.predict(pad_sequences(tokenizer.texts_to_sequences(samples), maxlen=args.maxlen, padding="post"),
                           verbose=0).ravel()
    for text, score in zip(samples, scores):
        print(f"  {score:.2f}  {text}")
    return {"loss": loss, "accuracy": accuracy}


if __name__ == "__main__":
    main()
