"""The Segment tab: class overlay with legend, hover read-out and person mode (background blur/replace)."""
