"""The management API's routes, one Powertools router per area; functions/management/app.py includes them.

They live in the layer, not next to the handler: the local gateway runs every function in one
process, with each function's directory on the one `sys.path`, where a handler's sibling module
would collide with another function's of the same name.
"""
