import warnings, numpy as np, spectra
import torch, jax, jax.numpy as jnp
warnings.simplefilter("error"); warnings.filterwarnings("ignore", message="Sparse CSR")
A = np.random.default_rng(0).standard_normal((30, 20))
for X in [torch.asarray(A).to_sparse(), torch.asarray(A).to_sparse_csr(), torch.empty(3,3, device="meta"), ]:
    try: spectra.norm(X)
    except Exception as e: print(type(e).__name__, str(e)[:150])
try: jax.jit(lambda a: spectra.norm(a).upper)(jnp.asarray(A))
except Exception as e: print(type(e).__name__, str(e)[:150])
for method in ["svd", "power", "lanczos", "randomized", "gram"]:
    r = spectra.norm(jnp.asarray(A), method=method); print(method, r, np.linalg.norm(A.astype(np.float32).astype(np.float64),2))
    r = spectra.norm(jnp.asarray(np.stack([A,A])), method=method); print(method, r.upper, r.lower, r.upper.dtype)
