"""Trains and exports every shipped model into ../models (see common.py).

    pip install -r training/requirements.txt
    python training/train_all.py
"""

import common  # noqa: F401 (first: it pins BLAS to one thread before numpy loads)
import train_diabetes
import train_digits
import train_fraud
import train_iris

if __name__ == "__main__":
    for script in (train_iris, train_digits, train_diabetes, train_fraud):
        script.main()
