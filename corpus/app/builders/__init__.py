"""app/builders"""
