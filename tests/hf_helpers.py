"""Tiny random-weight Hugging Face audio models of each family `hf:` supports, written at test time with
`save_pretrained` (no network): a few tens of kB each, the real transformers classes."""

import numpy as np

# Two conv layers of total stride 20 (a frame per 1.25 ms) keep the models tiny but with the real structure.
WAVEFORM = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                num_conv_pos_embedding_groups=2)
FAMILIES = ("wav2vec2_layer", "wav2vec2_group", "hubert", "wavlm", "data2vec_audio", "whisper", "ast")
AST_MAX_FRAMES = 128  # 1.28 s windows instead of 10.24 s


def configs():
  import transformers

  return {
      "wav2vec2_layer": transformers.Wav2Vec2Config(**WAVEFORM, feat_extract_norm="layer", do_stable_layer_norm=True),
      "wav2vec2_group": transformers.Wav2Vec2Config(**WAVEFORM, feat_extract_norm="group"),
      "hubert": transformers.HubertConfig(**WAVEFORM, feat_extract_norm="group"),
      "wavlm": transformers.WavLMConfig(**WAVEFORM, feat_extract_norm="layer", num_buckets=16, max_bucket_distance=40),
      "data2vec_audio": transformers.Data2VecAudioConfig(**WAVEFORM),
      "whisper": transformers.WhisperConfig(
          d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
          encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=80, vocab_size=8, max_target_positions=8,
          pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1),
      "ast": transformers.ASTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                                    max_length=AST_MAX_FRAMES, num_mel_bins=32),
  }


def feature_extractor(family: str, config):
  import transformers

  if family == "whisper":
    return transformers.WhisperFeatureExtractor()
  if family == "ast":
    return transformers.ASTFeatureExtractor(max_length=AST_MAX_FRAMES, num_mel_bins=32)
  # as the public checkpoints: an attention mask only with a layer-norm feature encoder
  return transformers.Wav2Vec2FeatureExtractor(
      return_attention_mask=getattr(config, "feat_extract_norm", "layer") == "layer", do_normalize=True)


def save_tiny(family: str, folder, seed: int = 0):
  """Writes a random-weight model of `family` and its feature extractor to `folder`; returns folder."""
  import torch
  import transformers

  config = configs()[family]
  torch.manual_seed(seed)
  transformers.utils.logging.disable_progress_bar()
  transformers.AutoModel.from_config(config).save_pretrained(str(folder))
  feature_extractor(family, config).save_pretrained(str(folder))
  return folder


def noise(*lengths, seed=0):
  state = np.random.RandomState(seed)
  return [state.uniform(-0.5, 0.5, n).astype(np.float32) for n in lengths]
