"""Reference implementation of atelier's seed -> latent algorithm in plain Python.

latent(seed, n) returns the float32 bit patterns of the first n latent values, exactly as
atelier_shared::latent_for_seed does: usage `python3 latent_reference.py 0 42` prints the first
four values of each seed. To feed a PyTorch generator, convert the bits with
struct.unpack("<f", struct.pack("<I", bits)).
"""
# Independent re-implementation of the seed -> latent algorithm (rand_core PCG32 seed expansion,
# ChaCha8 block function, Box-Muller in double precision, rounded to float32).
import struct, math
M64 = (1 << 64) - 1
def pcg_seed(state):
    MUL, INC = 6364136223846793005, 11634580027462260723
    out = b""
    for _ in range(8):
        state = (state * MUL + INC) & M64
        xs = (((state >> 18) ^ state) >> 27) & 0xffffffff
        rot = state >> 59
        x = ((xs >> rot) | (xs << ((32 - rot) & 31))) & 0xffffffff
        out += struct.pack("<I", x)
    return out
def rotl(v, n): return ((v << n) | (v >> (32 - n))) & 0xffffffff
def qr(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 7)
def block(key, counter):
    consts = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]
    k = list(struct.unpack("<8I", key))
    st = consts + k + [counter & 0xffffffff, counter >> 32, 0, 0]
    w = st[:]
    for _ in range(4):  # 8 rounds
        qr(w,0,4,8,12); qr(w,1,5,9,13); qr(w,2,6,10,14); qr(w,3,7,11,15)
        qr(w,0,5,10,15); qr(w,1,6,11,12); qr(w,2,7,8,13); qr(w,3,4,9,14)
    return [(a + b) & 0xffffffff for a, b in zip(w, st)]
def words(seed):
    key = pcg_seed(seed); c = 0
    while True:
        for x in block(key, c): yield x
        c += 1
def latent(seed, n):
    """float32 bit patterns of the first n latent values of seed."""
    w = words(seed)
    u64 = lambda: next(w) | (next(w) << 32)
    out = []
    while len(out) < n:
        u1 = 1.0 - (u64() >> 11) / 2.0**53
        u2 = (u64() >> 11) / 2.0**53
        r = math.sqrt(-2.0 * math.log(u1)); t = 2.0 * math.pi * u2
        out += [r * math.cos(t), r * math.sin(t)]
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in out[:n]]
if __name__ == "__main__":
    import sys
    seeds = [int(a) for a in sys.argv[1:]] or [0, 42, 2**64 - 1]
    for s in seeds:
        bits = latent(s, 4)
        print(s, bits, [struct.unpack("<f", struct.pack("<I", b))[0] for b in bits])
