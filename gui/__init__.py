"""The PySide6 front end of CNN Studio: widgets that show engine results and send user intent."""
