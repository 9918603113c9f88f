"""A Hugging Face model folder's tensors as numpy arrays, read and written.

safetensors files (one `model.safetensors`, or shards listed by
`model.safetensors.index.json`) are read and written with the `safetensors`
package alone: no PyTorch. A `pytorch_model.bin` (and its sharded index) needs
PyTorch, which is optional (`pip install -e '.[hf]'`).
"""
import json
import os

import ml_dtypes
import numpy as np

from lm_jax.errors import InputError

SAFETENSORS = 'model.safetensors'
SAFETENSORS_INDEX = 'model.safetensors.index.json'
PYTORCH = 'pytorch_model.bin'
PYTORCH_INDEX = 'pytorch_model.bin.index.json'


def read_tensors(folder: str) -> dict[str, np.ndarray]:
  """Every tensor of the model in `folder`, by name.

  Raises InputError when the folder holds no weights file, a file is
  unreadable, or a .bin file needs PyTorch and it is not installed.
  """
  for name, index, reader in ((SAFETENSORS, SAFETENSORS_INDEX, _safetensors),
                              (PYTORCH, PYTORCH_INDEX, _pytorch)):
    if os.path.isfile(os.path.join(folder, name)):
      return reader(os.path.join(folder, name))
    if os.path.isfile(os.path.join(folder, index)):
      tensors = {}
      for shard in _shards(os.path.join(folder, index)):
        tensors.update(reader(os.path.join(folder, shard)))
      return tensors
  raise InputError(f'{folder} holds no {SAFETENSORS}, {PYTORCH} or their '
                   'sharded index')


def _shards(index_path: str) -> list[str]:
  try:
    with open(index_path, encoding='utf-8') as f:
      weight_map = json.load(f)['weight_map']
    return sorted(set(weight_map.values()))
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise InputError(f'cannot read the shard index {index_path}: '
                     f'{type(e).__name__} {e}') from None


def _safetensors(path: str) -> dict[str, np.ndarray]:
  from safetensors import SafetensorError  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  if not os.path.isfile(path):
    raise InputError(f'{path} does not exist')
  try:
    return load_file(path)
  except (SafetensorError, OSError, ValueError) as e:
    message = ' '.join(str(e).split())
    if 'bfloat16' in message or 'BF16' in message:
      return _safetensors_bf16(path)
    raise InputError(f'cannot read {path}: {message}') from None


# safetensors' dtype names; bfloat16 is ml_dtypes' (what JAX uses), which
# safetensors' numpy functions do not know, so files are read and written here.
_DTYPES = {'BF16': ml_dtypes.bfloat16, 'F16': np.float16, 'F32': np.float32,
           'F64': np.float64, 'I64': np.int64, 'I32': np.int32,
           'I16': np.int16, 'I8': np.int8, 'U8': np.uint8, 'BOOL': np.bool_}


def _safetensors_bf16(path: str) -> dict[str, np.ndarray]:
  """A safetensors file holding bfloat16 tensors."""
  with open(path, 'rb') as f:
    size = int.from_bytes(f.read(8), 'little')
    header = json.loads(f.read(size))
    data = f.read()
  tensors = {}
  for name, info in header.items():
    if name == '__metadata__':
      continue
    start, end = info['data_offsets']
    tensors[name] = np.frombuffer(
        data[start:end], dtype=_DTYPES[info['dtype']]).reshape(info['shape'])
  return tensors


def _pytorch(path: str) -> dict[str, np.ndarray]:
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise InputError(f'{path} is a PyTorch file: reading it needs PyTorch '
                     "(pip install -e '.[hf]'), or convert the folder to "
                     'safetensors') from None
  if not os.path.isfile(path):
    raise InputError(f'{path} does not exist')
  try:
    state = torch.load(path, map_location='cpu', weights_only=True)
  except Exception as e:  # pylint: disable=broad-except
    raise InputError(f'cannot read {path}: {" ".join(str(e).split())}'
                     ) from None
  return {name: (t.float() if t.dtype == torch.bfloat16 else t).numpy()
          for name, t in state.items()}


def write_safetensors(path: str, tensors: dict[str, np.ndarray]) -> None:
  """Writes `tensors` (float32, float16 or bfloat16) as a safetensors file in
  PyTorch's format (what `from_pretrained` expects): a little-endian header
  size, the JSON header padded to 8 bytes, then each tensor's bytes."""
  names = {np.dtype(dtype): name for name, dtype in _DTYPES.items()}
  header, offset = {'__metadata__': {'format': 'pt'}}, 0
  for name, tensor in tensors.items():
    header[name] = {'dtype': names[tensor.dtype], 'shape': list(tensor.shape),
                    'data_offsets': [offset, offset + tensor.nbytes]}
    offset += tensor.nbytes
  text = json.dumps(header, separators=(',', ':')).encode('utf-8')
  text += b' ' * (-len(text) % 8)
  with open(path, 'wb') as f:
    f.write(len(text).to_bytes(8, 'little'))
    f.write(text)
    for tensor in tensors.values():
      f.write(np.ascontiguousarray(tensor).astype(
          tensor.dtype.newbyteorder('<'), copy=False).tobytes())
