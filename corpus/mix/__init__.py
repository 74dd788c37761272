"""Token accounting, the mix plan (60/10/30 by tokens), sampling by epochs, and fill-in-the-middle."""
