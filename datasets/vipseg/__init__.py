"""VIPSeg: 3,536 in-the-wild videos, 124 classes (58 things), 720p."""
