"""What a citizen wrote under an official's published reply: thanks, not fixed, a new problem, or other.

The reading (`read_reaction`) looks for a few things by lemma and pattern, each with the words that
found it:
- thanks («спасибо», «благодарю», «спс», 🙏) and what it thanks for: the work, or only the answer
  («спасибо за ответ», «за разъяснение»: then it is not a verdict on the work);
- work reported done («сделали», «починили», «дали свет», «наконец-то», «горит», «ходит») and work
  reported not done («не сделали», «так и не», «до сих пор», «ничего не изменилось», «как был … так
  и», «опять», «отписка», «для галочки», a promised date that «прошло»);
- sarcasm: thanks with «конечно», «очень помогло», 🙃 🙂 👏, turned by «только», «но», «а»;
- another problem: «а у нас ещё и», «кстати», «заодно», or a broken thing («не горит», «сломан»,
  «яма», «течёт») whose object the official's reply does not mention;
- a question, waiting («ждём», «посмотрим»), chatter.

A multinomial logistic regression over those markers and the reaction's lemmas and lemma pairs
(hashed, so the model is a plain weight matrix; `ReactionModel`, trained by `python -m classifier
train-reactions` on corpus/reactions/*.jsonl) decides; the evidence is the markers and the words that
pushed the winning label most. Nothing here calls the network, and scikit-learn is imported only to train.

The modules:
    reading.py   `read_reaction`: the markers and lemmas a reaction has, each with the words that found it
    model.py     `ReactionModel`: the features of a reading and the label with its evidence; LABELS
    training.py  the labelled rows (corpus/reactions/*.jsonl), `train`, `evaluate` and the report
"""

# ReactionModel stays importable from here: joblib finds pickled classes by module path, and the
# active data/reactions.joblib was saved when the class lived in the module classifier/reactions.py.
from classifier.reactions.model import ReactionModel as ReactionModel
