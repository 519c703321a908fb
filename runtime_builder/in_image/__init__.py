"""in_image"""
