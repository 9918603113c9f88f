"""lm_jax: BERT-era language-model pretraining (BERT, ALBERT, SpanBERT,
ELECTRA, GPT) in JAX/Flax, sharded over TPU/GPU meshes."""
from setuptools import find_packages, setup

setup(
    name='lm_jax',
    version='0.1.0',
    description=__doc__.strip().splitlines()[0],
    python_requires='>=3.11',
    packages=find_packages(include=['lm_jax', 'lm_jax.*', 'data_pipelines',
                                    'data_pipelines.*']),
    package_data={'data_pipelines': ['default_corpus/*.txt.gz',
                                     'default_corpus/PROVENANCE.md']},
    install_requires=[
        'jax>=0.10,<0.12',
        'flax>=0.12,<0.15',
        'optax>=0.2.5,<0.3',
        'orbax-checkpoint>=0.11,<1',
        # tf.data only; the pipeline hides GPUs/TPUs from TensorFlow.
        'tensorflow-cpu>=2.18,<2.23',
        'tensorflow-datasets>=4.9,<5',
        'sentencepiece>=0.2,<0.3',
        # GPT-2's byte-level BPE (data.tokenizer = 'bpe').
        'tokenizers>=0.19,<1',
        'ml-collections>=1.0,<2',
        'absl-py>=2.1,<3',
        'scikit-learn>=1.3',  # ROC AUC, F1, MCC
        'scipy>=1.10',  # Pearson and Spearman (STS-B)
        'sacrebleu>=2.3,<3',  # corpus BLEU of generated text
        'tensorboardX>=2.6,<3',
        'numpy>=1.26',
        # Hugging Face model folders, read and written without PyTorch.
        'safetensors>=0.4,<1',
    ],
    extras_require={
        # seqeval: the tests check entity scores against it.
        'dev': ['pytest>=8', 'seqeval>=1.2,<2'],
        # PyTorch and transformers: the conversion parity tests, and reading
        # pytorch_model.bin files.
        'hf': ['torch>=2.4', 'transformers>=4.40'],
    },
)
