"""Models by name from the Hugging Face Hub: :func:`pull_model` (the shell's ``splaredb model pull``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from . import _native

__all__ = ["pull_model", "model_presets"]

_LAYOUTS = ("splaredb", "sae_lens", "llama_scope", "gemma_scope")


def _repo(text: str) -> Dict[str, str]:
    repo, _, revision = text.partition("@")
    return {"repo": repo, "revision": revision or "main"}


def _with_path(text: str) -> Dict[str, Any]:
    repo, _, path = text.partition(":")
    return {"repo": _repo(repo), "path": path}


def _activation(text: str) -> Dict[str, Any]:
    kind, _, arg = text.partition(":")
    try:
        if kind == "relu" and not arg:
            return {"kind": "relu"}
        if kind == "topk" and int(arg) > 0:
            return {"kind": "topk", "k": int(arg)}
        if kind == "jumprelu":
            return {"kind": "jumprelu", "threshold": float(arg) if arg else None}
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not an activation (relu, topk:K, jumprelu, jumprelu:T)")


def pull_model(
    preset: Optional[str] = None,
    *,
    backbone: Optional[str] = None,
    sae: Optional[str] = None,
    sae_layout: Optional[str] = None,
    sae_activation: Optional[str] = None,
    lora: Optional[str] = None,
    name: Optional[str] = None,
    layer: Optional[int] = None,
    bidirectional: bool = True,
    pooling: str = "content",
    top_k_query: int = 40,
    top_k_document: int = 400,
    max_length: int = 512,
    query_prefix: str = "",
    document_prefix: str = "",
    max_weight: float = 8.0,
    out: Union[str, "os.PathLike[str]", None] = None,
    endpoint: Optional[str] = None,
    token: Optional[str] = None,
    cache_dir: Union[str, "os.PathLike[str]", None] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Assembles a model directory from Hugging Face Hub repositories and returns what was done.

    Either a ``preset`` (see :func:`model_presets`), or ``backbone="owner/name[@revision]"`` with ``name`` and,
    for sparse vectors, ``sae="owner/name[@revision]:path/inside"`` and its ``sae_layout`` (``splaredb``,
    ``sae_lens``, ``llama_scope``, ``gemma_scope``; a ``splaredb`` file needs ``sae_activation``: ``relu``,
    ``topk:K``, ``jumprelu[:T]``), optionally a LoRA adapter ``lora="owner/name[@rev][:dir]"``.
    The other arguments are the model's ``splare.json`` settings (``layer`` is Hugging Face
    ``hidden_states[layer]``; all layers when left out).

    The model lands in the model cache (``$SPLAREDB_HOME/models/NAME``) unless ``out`` says otherwise, and is
    then opened by name: ``splaredb.open(path, model=NAME)``. ``endpoint``, ``token`` and ``cache_dir`` default
    to ``HF_ENDPOINT``, ``HF_TOKEN`` (or ``$HF_HOME/token``) and ``HF_HUB_CACHE`` / ``$HF_HOME/hub``.

    Returns a dict: ``path`` (the model directory), ``up_to_date`` (nothing was fetched), ``commits`` (role,
    repository, revision asked, commit pinned), ``files`` and ``bytes``. Raises
    :class:`~splaredb.errors.HubAccessError` for a gated or private repository (the message says what to do
    about the token), :class:`~splaredb.errors.HubNotFoundError` naming a missing repository or file,
    :class:`~splaredb.errors.ChecksumError`, :class:`~splaredb.errors.IncompatibleModelError` (an SAE that does
    not fit the backbone, found from the configs before the weights are fetched),
    :class:`~splaredb.errors.HubUnreachableError` and :class:`~splaredb.errors.InvalidOptionsError`.
    """
    kwargs: Dict[str, Any] = {
        "out": os.fspath(out) if out is not None else None,
        "endpoint": endpoint,
        "token": token,
        "cache_dir": os.fspath(cache_dir) if cache_dir is not None else None,
        "progress": progress,
    }
    if preset is not None:
        if backbone is not None or sae is not None or lora is not None:
            raise ValueError("a preset names its own repositories: give a preset or backbone=..., not both")
        result: Dict[str, Any] = _native.pull_model(preset=preset, **kwargs)
    else:
        if backbone is None or name is None:
            raise ValueError("give a preset, or backbone=... and name=...")
        if (sae is None) != (sae_layout is None):
            raise ValueError("sae and sae_layout go together")
        if sae_layout is not None and sae_layout not in _LAYOUTS:
            raise ValueError(f"unknown SAE layout {sae_layout!r} ({', '.join(_LAYOUTS)})")
        if pooling not in ("content", "all"):
            raise ValueError(f"pooling must be 'content' or 'all', not {pooling!r}")
        spec = {
            "name": name,
            "backbone": _repo(backbone),
            "layer": layer,
            "bidirectional": bidirectional,
            "sae": dict(
                _with_path(sae),
                layout=sae_layout,
                activation=_activation(sae_activation) if sae_activation is not None else None,
            )
            if sae is not None
            else None,
            "lora": _with_path(lora) if lora is not None else None,
            "pooling": pooling,
            "top_k_query": top_k_query,
            "top_k_document": top_k_document,
            "max_length": max_length,
            "query_prefix": query_prefix,
            "document_prefix": document_prefix,
            "max_weight": max_weight,
        }
        result = _native.pull_model(spec_json=json.dumps(spec), **kwargs)
    result["path"] = Path(result["path"])
    return result


def model_presets() -> List[Dict[str, Any]]:
    """The models :func:`pull_model` knows by name: ``name``, ``about``, ``download`` (about how much it
    fetches) and ``gated`` (a Hub token with access is needed)."""
    return list(_native.model_presets())
